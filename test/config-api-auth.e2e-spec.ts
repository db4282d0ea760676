import { generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { INestApplication } from '@nestjs/common';
import { exportJWK, JWK, SignJWT } from 'jose';
import request from 'supertest';
import { loadAppConfig } from '@lib/config';
import { rsaKeyPair } from './fixtures/keys';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { createConfigApiApp, startConfigApi } from './support/config-api.harness';
import { testEnvironment, TestEnv } from './support/test-environment';
import { JWKS_FAILURE_BACKOFF_MS } from '../apps/config-api/src/auth/jwks-keys';

const startApi = (env: TestEnv): Promise<INestApplication> => createConfigApiApp(loadAppConfig(env));

describe('config-api auth sources and start-up checks', () => {
  describe('JWKS', () => {
    const keys: JWK[] = [];
    let jwksServer: Server;
    let fetches = 0;
    /** What the key set's address answers instead of the key set, as a proxy's error page would. */
    let brokenAnswer: { contentType: string; body: string } | undefined;
    let app: INestApplication;
    const issuer = 'https://idp.test.example/';
    const audience = 'push-mfa';

    beforeAll(async () => {
      jwksServer = createServer((_, res) => {
        fetches += 1;
        res.setHeader('content-type', brokenAnswer?.contentType ?? 'application/json');
        res.end(brokenAnswer?.body ?? JSON.stringify({ keys }));
      });
      await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
      const { port } = jwksServer.address() as AddressInfo;
      app = await startApi(
        testEnvironment({
          AUTH_MODE: 'jwks',
          AUTH_JWKS_URI: `http://127.0.0.1:${port}/.well-known/jwks.json`,
          AUTH_JWKS_COOLDOWN_MS: '1000',
          AUTH_ISSUER: issuer,
          AUTH_AUDIENCE: audience,
        }),
      );
    });
    afterAll(async () => {
      await app.close();
      jwksServer.closeAllConnections();
      jwksServer.close();
    });

    const publish = async (kid: string) => {
      const pair = rsaKeyPair();
      keys.push({ ...(await exportJWK(pair.publicKey)), kid, alg: 'RS256', use: 'sig' });
      return pair;
    };
    const tokenFor = (pair: ReturnType<typeof rsaKeyPair>, kid: string) =>
      new SignJWT({ scope: 'read:mfa', tenant_id: 'acme' })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setExpirationTime('5m')
        .sign(pair.privateKey);

    it('verifies against the key set, caches it, and refetches on an unknown kid (key rotation)', async () => {
      const first = await publish('key-1');
      const http = () => request(app.getHttpServer());
      await http()
        .get('/mfa')
        .set('Authorization', `Bearer ${await tokenFor(first, 'key-1')}`)
        .expect(200);
      await http()
        .get('/mfa')
        .set('Authorization', `Bearer ${await tokenFor(first, 'key-1')}`)
        .expect(200);
      expect(fetches).toBe(1);
      const rotated = await publish('key-2');
      await sleep(1100); // the cooldown after the first fetch
      await http()
        .get('/mfa')
        .set('Authorization', `Bearer ${await tokenFor(rotated, 'key-2')}`)
        .expect(200);
      expect(fetches).toBe(2);
      const unknown = await http()
        .get('/mfa')
        .set('Authorization', `Bearer ${await tokenFor(rsaKeyPair(), 'key-9')}`)
        .expect(401);
      expect(unknown.body.error_description).toContain('unknown key');
      // Within the cooldown after the rotation's fetch, a made-up kid does not make the API fetch again.
      expect(fetches).toBe(2);
    });

    it('refuses a token whose algorithm does not fit the key (RS256 against an EC key) with 401, not 503', async () => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      keys.push({ ...(await exportJWK(ec.publicKey)), kid: 'ec-key', alg: 'ES256', use: 'sig' });
      const res = await request(app.getHttpServer())
        .get('/mfa')
        .set('Authorization', `Bearer ${await tokenFor(rsaKeyPair(), 'ec-key')}`)
        .expect(401);
      expect(res.headers['retry-after']).toBeUndefined();
    });

    it('answers 503, not 401, while the key set address answers 200 with something that is not a key set', async () => {
      const pair = await publish('key-3');
      for (const broken of [
        { contentType: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' },
        { contentType: 'application/json', body: '{"keys":"none"}' },
      ]) {
        brokenAnswer = broken;
        // Past the cooldown after the last fetch, and the backoff after a failed one.
        await sleep(JWKS_FAILURE_BACKOFF_MS + 100);
        const res = await request(app.getHttpServer())
          .get('/mfa')
          .set('Authorization', `Bearer ${await tokenFor(pair, 'key-3')}`);
        expect([broken.body, res.status, res.headers['retry-after']]).toEqual([broken.body, 503, '5']);
      }
      brokenAnswer = undefined;
      await sleep(JWKS_FAILURE_BACKOFF_MS + 100);
      await request(app.getHttpServer())
        .get('/mfa')
        .set('Authorization', `Bearer ${await tokenFor(pair, 'key-3')}`)
        .expect(200);
    });

    it('answers 503 with Retry-After when the key set cannot be fetched', async () => {
      const down = await startApi(
        testEnvironment({
          AUTH_MODE: 'jwks',
          AUTH_JWKS_URI: 'http://127.0.0.1:1/.well-known/jwks.json',
          AUTH_ISSUER: issuer,
          AUTH_AUDIENCE: audience,
        }),
      );
      try {
        const res = await request(down.getHttpServer())
          .get('/mfa')
          .set('Authorization', `Bearer ${await tokenFor(rsaKeyPair(), 'key-1')}`)
          .expect(503);
        expect(res.headers['retry-after']).toBe('5');
      } finally {
        await down.close();
      }
    });
  });

  describe('dev mode', () => {
    it('trusts the tokens `npm run token` prints, with the tenant it names', async () => {
      const stateDir = mkdtempSync(join(tmpdir(), 'push-mfa-dev-'));
      const app = await startApi(testEnvironment({ AUTH_MODE: 'dev', LOCAL_STATE_DIR: stateDir }));
      try {
        const token = execFileSync('npm', ['run', '-s', 'token', '--', '--tenant', 'devco', 'read:mfa'], {
          env: { ...process.env, LOCAL_STATE_DIR: stateDir, NODE_OPTIONS: '' },
          encoding: 'utf8',
        }).trim();
        expect(token.split('.')).toHaveLength(3);
        const res = await request(app.getHttpServer())
          .get('/mfa')
          .set('Authorization', `Bearer ${token}`)
          .expect(200);
        expect(res.body).toEqual({ total: 0, results: [] });
        await request(app.getHttpServer())
          .post('/mfa')
          .set('Authorization', `Bearer ${token}`)
          .send({})
          .expect(403);
      } finally {
        await app.close();
      }
    });
  });

  describe('where scopes and the tenant come from, when configured', () => {
    it('reads scopes from the claims AUTH_SCOPE_CLAIMS names, and gives a token without a tenant AUTH_DEFAULT_TENANT', async () => {
      const api = await startConfigApi(
        testEnvironment({ AUTH_SCOPE_CLAIMS: 'scope,permissions', AUTH_DEFAULT_TENANT: 'solo' }),
      );
      try {
        const untenanted = await api.token([], { permissions: ['write:mfa'] });
        await api
          .http()
          .post('/mfa')
          .set('Authorization', `Bearer ${untenanted}`)
          .send(pushConfigBody())
          .expect(201);
        const solo = await api.token(['read:mfa'], { tenant_id: 'solo' });
        await api.http().get('/mfa/push').set('Authorization', `Bearer ${solo}`).expect(200);
        // Only a missing claim takes the default: a null one is not a tenant id.
        const nullTenant = await api.token(['read:mfa'], { tenant_id: null });
        await api.http().get('/mfa/push').set('Authorization', `Bearer ${nullTenant}`).expect(401);
      } finally {
        await api.close();
      }
    });
  });

  describe('CORS', () => {
    it('allows the configured admin origins only', async () => {
      const app = await startApi(testEnvironment({ CORS_ORIGINS: 'https://admin.example.com' }));
      try {
        const preflight = (origin: string) =>
          request(app.getHttpServer())
            .options('/api/v1/mfa/')
            .set('Origin', origin)
            .set('Access-Control-Request-Method', 'POST')
            .set('Access-Control-Request-Headers', 'authorization,content-type,x-request-id,if-match');
        const allowed = await preflight('https://admin.example.com');
        expect(allowed.headers['access-control-allow-origin']).toBe('https://admin.example.com');
        expect(allowed.headers['access-control-allow-headers']).toMatch(/Authorization/i);
        expect(allowed.headers['access-control-allow-headers']).toMatch(/X-Request-Id.*If-Match/i);
        // A page can read its request's id, the version it read, when to retry and why its token was refused.
        const refused = await request(app.getHttpServer())
          .get('/mfa')
          .set('Origin', 'https://admin.example.com');
        expect(refused.status).toBe(401);
        expect(refused.headers['access-control-expose-headers']?.split(',')).toEqual(
          expect.arrayContaining(['X-Request-Id', 'ETag', 'Retry-After', 'WWW-Authenticate']),
        );
        const other = await preflight('https://evil.example.com');
        expect(other.headers['access-control-allow-origin']).toBeUndefined();
      } finally {
        await app.close();
      }
    });
  });
});
