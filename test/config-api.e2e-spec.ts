import { generateKeyPairSync } from 'node:crypto';
import { getConnectionToken } from '@nestjs/mongoose';
import mongoose, { type Connection } from 'mongoose';
import { resolveTopicNames } from '@lib/contracts';
import { apnsP8Key, rsaKeyPair, serviceAccountPrivateKey } from './fixtures/keys';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { OpenApiResponses } from './support/openapi-responses';
import { TopicReader } from './support/topic-reader';

const ALL_SCOPES = ['write:mfa', 'read:mfa', 'update:mfa', 'delete:mfa'];

describe('config-api (real FerretDB and Kafka)', () => {
  let api: ConfigApiHarness;
  let events: TopicReader;
  let admin: string;

  beforeAll(async () => {
    api = await startConfigApi();
    events = await new TopicReader(api.config, resolveTopicNames(api.config.kafka).configChanged).start();
    admin = await api.token(ALL_SCOPES, { tenant_id: 'acme' });
  });
  afterAll(async () => {
    await events.stop();
    await api.close();
  });

  const post = (body: unknown, token = admin, path = '/mfa') =>
    api
      .http()
      .post(path)
      .set('Authorization', `Bearer ${token}`)
      .send(body as object);
  const patch = (body: unknown, token = admin) =>
    api
      .http()
      .patch('/mfa/push')
      .set('Authorization', `Bearer ${token}`)
      .send(body as object);
  /** A POST of exactly this text as its JSON body. */
  const postText = (text: string, token = admin) =>
    api
      .http()
      .post('/mfa')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/json')
      .send(text);
  const get = (path = '/mfa/push', token = admin) =>
    api.http().get(path).set('Authorization', `Bearer ${token}`);
  const del = (token = admin) => api.http().delete('/mfa/push').set('Authorization', `Bearer ${token}`);
  const tenantToken = (tenant: string) => api.token(ALL_SCOPES, { tenant_id: tenant });

  describe('the resource', () => {
    it('creates with defaults filled in, secrets masked and fingerprinted, and emits the event', async () => {
      const body = pushConfigBody();
      delete (body.settings as Record<string, unknown>).strategy;
      const res = await post(body).expect(201);
      expect(res.body).toMatchObject({
        enabled: true,
        provider: 'native',
        type: 'push',
        version: 1,
        settings: {
          enabled_clients: ['web-login'],
          strategy: 'code',
          apns: {
            bundle_id: 'com.example.authenticator',
            key: '[redacted]',
            key_id: 'ABC123DEFG',
            production: true,
          },
          fcm: { private_key: '[redacted]', project_id: 'example-project' },
        },
      });
      expect(res.body.settings.apns.key_fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(res.body.settings.fcm.private_key_fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(Date.parse(res.body.created_at)).toBeGreaterThan(0);
      expect(res.body.updated_at).toBe(res.body.created_at);

      const event = await events.waitFor((m) => m.key === 'acme/push' && m.value.version === 1);
      expect(event.value).toEqual({
        event_id: expect.any(String),
        type: 'mfa.config.changed',
        tenant: 'acme',
        mfa_type: 'push',
        version: 1,
        change: 'created',
        occurred_at: res.body.created_at,
      });
      expect(event.raw).not.toMatch(/PRIVATE KEY|redacted/);
    });

    it('refuses a second create with 409 pointing at PATCH', async () => {
      const res = await post(pushConfigBody()).expect(409);
      expect(res.body).toMatchObject({ status: 409, error: 'conflict' });
      expect(res.body.error_description).toContain('PATCH /mfa/push');
    });

    it('serves GET /mfa/push, GET /mfa (list) and /api/v1/mfa/ with a trailing slash, all masked', async () => {
      const one = await get().expect(200);
      expect(one.body.settings.apns.key).toBe('[redacted]');
      const list = await get('/mfa?limit=10&offset=0').expect(200);
      expect(list.body).toMatchObject({ total: 1, results: [{ type: 'push', version: 1 }] });
      const sdkPath = await get('/api/v1/mfa/').expect(200);
      expect(sdkPath.body.total).toBe(1);
      await get('/api/v1/mfa/push/').expect(200);
      expect((await get('/mfa?offset=1').expect(200)).body).toEqual({ total: 1, results: [] });
      expect(JSON.stringify([one.body, list.body, sdkPath.body])).not.toContain('PRIVATE KEY');
    });

    it('validates list paging', async () => {
      const res = await get('/mfa?limit=0').expect(400);
      expect(res.body.details).toEqual([expect.objectContaining({ path: 'limit' })]);
    });

    it('PATCH keeps omitted secrets, bumps the version, and emits "updated"', async () => {
      const before = (await get().expect(200)).body;
      const res = await patch({ settings: { strategy: 'prompt', apns: { key_id: 'NEWKEY1234' } } }).expect(
        200,
      );
      expect(res.body.version).toBe(before.version + 1);
      expect(res.body.settings.strategy).toBe('prompt');
      expect(res.body.settings.apns.key_id).toBe('NEWKEY1234');
      expect(res.body.settings.apns.key_fingerprint).toBe(before.settings.apns.key_fingerprint);
      expect(res.body.settings.fcm.private_key_fingerprint).toBe(before.settings.fcm.private_key_fingerprint);
      expect(res.body.created_at).toBe(before.created_at);
      await events.waitFor(
        (m) => m.key === 'acme/push' && m.value.version === res.body.version && m.value.change === 'updated',
      );
    });

    it('a PATCH that changes nothing writes nothing: same version, no event', async () => {
      const token = await tenantToken('no-op');
      const body = pushConfigBody({ settings: { strategy: 'code' } });
      const created = (await post(body, token).expect(201)).body;
      const { apns, fcm } = body.settings;
      for (const same of [
        {},
        { enabled: true, settings: { strategy: 'code', apns: { key_id: 'ABC123DEFG' } } },
        // The same keys as sent before: the service account's \n-escaped, the .p8 without its last newline.
        { settings: { fcm: { private_key: fcm.private_key }, apns: { key: apns.key.trim() } } },
      ]) {
        const res = await patch(same, token).expect(200);
        expect(res.body).toMatchObject({ version: created.version, updated_at: created.updated_at });
      }
      // A real change after them: its event is the next one of this configuration, right after "created".
      const changed = await patch({ settings: { strategy: 'prompt' } }, token).expect(200);
      expect(changed.body.version).toBe(created.version + 1);
      await events.waitFor((m) => m.key === 'no-op/push' && m.value.version === changed.body.version);
      expect(events.messages.filter((m) => m.key === 'no-op/push').map((m) => m.value.change)).toEqual([
        'created',
        'updated',
      ]);
    });

    it('concurrent PATCHes of one configuration are all applied, each to the latest state, none refused', async () => {
      const token = await tenantToken('racing');
      await post(pushConfigBody(), token).expect(201);
      const clients = Array.from({ length: 8 }, (_, i) => `kiosk-${i}`);
      const answers = await Promise.all(
        clients.map((client) => patch({ settings: { enabled_clients: ['web-login', client] } }, token)),
      );
      expect(answers.map((answer) => answer.status)).toEqual(clients.map(() => 200));
      // Each applied on top of the one before it: versions 2 to 9, none lost.
      expect(answers.map((answer) => answer.body.version).sort((a, b) => a - b)).toEqual([
        2, 3, 4, 5, 6, 7, 8, 9,
      ]);
      expect((await get('/mfa/push', token).expect(200)).body.version).toBe(9);
    });

    it('PATCH with a new key changes the fingerprint; null removes fcm; the merged result is validated', async () => {
      const before = (await get().expect(200)).body;
      const rotated = await patch({ settings: { apns: { key: apnsP8Key() } } }).expect(200);
      expect(rotated.body.settings.apns.key_fingerprint).not.toBe(before.settings.apns.key_fingerprint);
      const removed = await patch({ settings: { fcm: null } }).expect(200);
      expect(removed.body.settings.fcm).toBeUndefined();
      // Removing the last provider of an enabled configuration is refused as a whole.
      const invalid = await patch({ settings: { apns: null } }).expect(400);
      expect(invalid.body.details).toEqual([expect.objectContaining({ path: 'settings' })]);
      // Adding fcm back partially names the missing fields.
      const partial = await patch({ settings: { fcm: { project_id: 'example-project' } } }).expect(400);
      expect(partial.body.details.map((d: { path: string }) => d.path).sort()).toEqual([
        'settings.fcm.client_email',
        'settings.fcm.private_key',
      ]);
      await patch({ type: 'sms' }).expect(400);
      // null removes apns or fcm, and nothing else: it would store a broken configuration.
      const nulls = await patch({
        enabled: null,
        settings: { enabled_clients: null, apns: { production: null } },
      }).expect(400);
      expect(nulls.body.details.map((d: { path: string }) => d.path).sort()).toEqual([
        'enabled',
        'settings.apns.production',
        'settings.enabled_clients',
      ]);
    });

    it('PATCH and DELETE with If-Match apply only to the version the caller read, else 412', async () => {
      const token = await tenantToken('if-match');
      const write = (method: 'patch' | 'delete', ifMatch: string, body?: object) =>
        api
          .http()
          [method]('/mfa/push')
          .set('Authorization', `Bearer ${token}`)
          .set('If-Match', ifMatch)
          .send(body);
      const created = await post(pushConfigBody(), token).expect(201);
      const v1 = created.body.version as number;
      expect(created.headers.etag).toBe(`"${v1}"`);
      const read = await get('/mfa/push', token).expect(200);
      expect(read.headers.etag).toBe(`"${v1}"`);
      // No 304: the body's apply status changes without a new version.
      await get('/mfa/push', token).set('If-None-Match', `"${v1}"`).expect(200);
      // Only a configuration has an ETag (Express would hash any other body, errors too).
      expect((await get('/mfa', token).expect(200)).headers.etag).toBeUndefined();
      expect((await get('/mfa/sms', token).expect(404)).headers.etag).toBeUndefined();

      const changed = await write('patch', `"${v1}"`, { settings: { enabled_clients: ['first'] } }).expect(
        200,
      );
      expect(changed.headers.etag).toBe(`"${v1 + 1}"`);
      // A second admin still holding version 1: refused, told the version now, nothing changed.
      const stale = await write('patch', `"${v1}"`, { settings: { enabled_clients: ['second'] } }).expect(
        412,
      );
      expect(stale.body).toMatchObject({ status: 412, error: 'precondition_failed' });
      expect(stale.body.error_description).toContain(`If-Match: "${v1 + 1}"`);
      expect(stale.headers.etag).toBe(`"${v1 + 1}"`);
      // A weak tag never matches (RFC 9110 compares If-Match strongly); one of a list does.
      await write('patch', `W/"${v1 + 1}"`, { enabled: false }).expect(412);
      expect((await get('/mfa/push', token)).body).toMatchObject({
        enabled: true,
        version: v1 + 1,
        settings: { enabled_clients: ['first'] },
      });
      await write('patch', `"7", "${v1 + 1}"`, { settings: { enabled_clients: ['third'] } }).expect(200);
      const malformed = await write('patch', 'version 3', { enabled: false }).expect(400);
      expect(malformed.body.details).toEqual([
        { path: 'If-Match', message: expect.stringContaining('ETag') },
      ]);

      await write('delete', `"${v1}"`).expect(412);
      // A body sent with a DELETE is ignored, whatever it is.
      await write('delete', '*').set('Content-Type', 'text/plain').send('bye').expect(204);
    });

    it('DELETE emits "deleted", then the configuration is gone, and it can be created again with a higher version', async () => {
      const before = (await get().expect(200)).body;
      await del().expect(204);
      await get().expect(404);
      await events.waitFor(
        (m) =>
          m.key === 'acme/push' && m.value.change === 'deleted' && m.value.version === before.version + 1,
      );
      const again = await post(pushConfigBody()).expect(201);
      expect(again.body.version).toBe(before.version + 2);
      expect(again.body.created_at).not.toBe(before.created_at);
    });

    it('answers 404 for an unknown type', async () => {
      const res = await get('/mfa/sms').expect(404);
      expect(res.body.error_description).toContain('push');
    });
  });

  describe('tenants', () => {
    it('a tenant never sees or changes another tenant’s configuration', async () => {
      const globex = await tenantToken('globex');
      await get('/mfa/push', globex).expect(404);
      expect((await get('/mfa', globex).expect(200)).body).toEqual({ total: 0, results: [] });
      await patch({ enabled: false }, globex).expect(404);
      await del(globex).expect(404);
      await post(pushConfigBody({ settings: { enabled_clients: ['globex-app'] } }), globex).expect(201);
      expect((await get('/mfa/push', globex).expect(200)).body.settings.enabled_clients).toEqual([
        'globex-app',
      ]);
      expect((await get().expect(200)).body.settings.enabled_clients).toEqual(['web-login']);
    });

    it('refuses a token without the tenant claim, naming it, rather than acting on a default tenant', async () => {
      const res = await post(pushConfigBody(), await api.token(ALL_SCOPES)).expect(401);
      expect(res.body.error_description).toContain('no tenant_id claim');
      expect(res.body.error_description).toContain('AUTH_DEFAULT_TENANT');
    });
  });

  describe('auth and scopes', () => {
    it.each([
      ['POST', 'write:mfa'],
      ['GET', 'read:mfa'],
      ['PATCH', 'update:mfa'],
      ['DELETE', 'delete:mfa'],
    ])('%s needs %s: 403 naming it otherwise', async (method, scope) => {
      const others = ALL_SCOPES.filter((s) => s !== scope);
      const token = await api.token(others, { tenant_id: 'acme' });
      const call = api.http()[method.toLowerCase() as 'post'](method === 'POST' ? '/mfa' : '/mfa/push');
      const res = await call
        .set('Authorization', `Bearer ${token}`)
        .send(method === 'GET' ? undefined : {})
        .expect(403);
      expect(res.body).toMatchObject({ status: 403, error: 'insufficient_scope' });
      expect(res.body.error_description).toContain(scope);
    });

    it('checks the token before the body: 401 without one, 403 without the scope, whatever the body', async () => {
      const readOnly = await api.token(['read:mfa'], { tenant_id: 'acme' });
      const bodies: [string, string][] = [
        ['application/json', '{"enabled": tru'],
        ['application/json', JSON.stringify({ padding: 'x'.repeat(70 * 1024) })],
        ['text/plain', 'enabled=true'],
        ['application/json', '{"__proto__": {}}'],
      ];
      for (const [contentType, body] of bodies) {
        const anonymous = await api.http().post('/mfa').set('Content-Type', contentType).send(body);
        expect([anonymous.status, anonymous.body.error]).toEqual([401, 'invalid_token']);
        const unscoped = await api
          .http()
          .patch('/mfa/push')
          .set('Authorization', `Bearer ${readOnly}`)
          .set('Content-Type', contentType)
          .send(body);
        expect([unscoped.status, unscoped.body.error]).toEqual([403, 'insufficient_scope']);
      }
    });

    it('takes the scheme name in any case ("bearer" too), as HTTP says', async () => {
      const token = await api.token(['read:mfa'], { tenant_id: 'acme' });
      await api.http().get('/mfa').set('Authorization', `bearer ${token}`).expect(200);
      await api.http().get('/mfa').set('Authorization', `BEARER ${token}`).expect(200);
    });

    it('takes scopes from the scope claim only: a permissions array (all the user may do) grants nothing', async () => {
      const token = await api.token([], { permissions: ['read:mfa'], tenant_id: 'acme' });
      expect((await get('/mfa/push', token).expect(403)).body.error).toBe('insufficient_scope');
    });

    it('refuses a missing, malformed, foreign or unsigned token with 401', async () => {
      await api.http().get('/mfa').expect(401);
      const malformed = await api.http().get('/mfa').set('Authorization', 'Bearer nope').expect(401);
      expect(malformed.body.error).toBe('invalid_token');
      expect(malformed.headers['www-authenticate']).toContain('Bearer');
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      const claims = Buffer.from(
        JSON.stringify({
          scope: 'read:mfa',
          iss: 'https://auth.test.example/',
          aud: 'https://push-mfa.test.example/api',
          exp: 9999999999,
        }),
      ).toString('base64url');
      await get('/mfa', `${header}.${claims}.`).expect(401);
      const other = rsaKeyPair();
      const { SignJWT } = await import('jose');
      const foreign = await new SignJWT({ scope: 'read:mfa' })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer('https://auth.test.example/')
        .setAudience('https://push-mfa.test.example/api')
        .setExpirationTime('5m')
        .sign(other.privateKey);
      expect((await get('/mfa', foreign).expect(401)).body.error_description).toContain('signature');
    });

    it('checks iss, aud, exp and nbf, and refuses HS256 signed with the public key', async () => {
      const { SignJWT } = await import('jose');
      const base = () =>
        new SignJWT({ scope: 'read:mfa', tenant_id: 'acme' }).setProtectedHeader({ alg: 'RS256' });
      const sign = (jwt: InstanceType<typeof SignJWT>) => jwt.sign(api.signingKey.privateKey);
      const iss = 'https://auth.test.example/';
      const aud = 'https://push-mfa.test.example/api';
      // Each refused for what is wrong with it: a good token of the same shape passes.
      await get('/mfa', await sign(base().setIssuer(iss).setAudience(aud).setExpirationTime('5m'))).expect(
        200,
      );
      const wrongIssuer = await get(
        '/mfa',
        await sign(base().setIssuer('https://evil/').setAudience(aud).setExpirationTime('5m')),
      ).expect(401);
      expect(wrongIssuer.body.error_description).toBe("The token's iss claim is not accepted.");
      const wrongAudience = await get(
        '/mfa',
        await sign(base().setIssuer(iss).setAudience('other').setExpirationTime('5m')),
      ).expect(401);
      expect(wrongAudience.body.error_description).toBe("The token's aud claim is not accepted.");
      const expired = await get(
        '/mfa',
        await sign(
          base()
            .setIssuer(iss)
            .setAudience(aud)
            .setExpirationTime(Math.floor(Date.now() / 1000) - 60),
        ),
      ).expect(401);
      expect(expired.body.error_description).toContain('expired');
      const early = await get(
        '/mfa',
        await sign(base().setIssuer(iss).setAudience(aud).setExpirationTime('10m').setNotBefore('5m')),
      ).expect(401);
      expect(early.body.error_description).toBe("The token's nbf claim is not accepted.");
      const confused = await new SignJWT({ scope: 'read:mfa', tenant_id: 'acme' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(iss)
        .setAudience(aud)
        .setExpirationTime('5m')
        .sign(Buffer.from(api.signingKey.publicPem));
      expect((await get('/mfa', confused).expect(401)).body.error_description).toContain('algorithm');
    });
  });

  describe('validation: a clear 4xx naming the field', () => {
    const pathsOf = (res: { body: { details: { path: string }[] } }) => res.body.details.map((d) => d.path);
    const without = (field: string) => {
      const body = pushConfigBody() as Record<string, unknown>;
      const parts = field.split('.');
      let target = body;
      for (const part of parts.slice(0, -1)) target = target[part] as Record<string, unknown>;
      delete target[parts[parts.length - 1]];
      return body;
    };
    const tenant = 'validation';
    let token: string;
    beforeAll(async () => {
      token = await tenantToken(tenant);
    });

    it.each([
      'enabled',
      'provider',
      'type',
      'settings',
      'settings.enabled_clients',
      'settings.apns.bundle_id',
      'settings.apns.key',
      'settings.apns.key_id',
      'settings.apns.team_id',
      'settings.fcm.client_email',
      'settings.fcm.private_key',
      'settings.fcm.project_id',
    ])('%s is required', async (field) => {
      const res = await post(without(field), token).expect(400);
      expect(res.body).toMatchObject({ status: 400, error: 'validation_error' });
      expect(res.body.details).toContainEqual({ path: field, message: 'is required' });
    });

    it.each([
      ['enabled', 'yes'],
      ['is_custom', 'no'],
      ['settings.enabled_clients', 'web'],
      ['settings.apns.production', 'true'],
      ['settings.apns.key_id', 42],
      ['settings', 'push'],
    ])('%s has a type', async (field, value) => {
      const body = pushConfigBody() as Record<string, unknown>;
      const parts = field.split('.');
      let target = body;
      for (const part of parts.slice(0, -1)) target = target[part] as Record<string, unknown>;
      target[parts[parts.length - 1]] = value;
      expect(pathsOf(await post(body, token).expect(400))).toContain(field);
    });

    it('lists the allowed values of provider, type and strategy', async () => {
      const res = await post(
        pushConfigBody({ provider: 'guardian', type: 'sms', settings: { strategy: 'tap' } }),
        token,
      ).expect(400);
      expect(res.body.details).toEqual(
        expect.arrayContaining([
          { path: 'provider', message: 'must be one of: native' },
          { path: 'type', message: 'must be one of: push' },
          { path: 'settings.strategy', message: 'must be one of: code, prompt' },
        ]),
      );
    });

    it('refuses unknown properties anywhere (no mass assignment)', async () => {
      const res = await post(
        pushConfigBody({
          version: 99,
          settings: { extra: 1, apns: { ...pushConfigBody().settings.apns, admin: true } },
        }),
        token,
      ).expect(400);
      expect(pathsOf(res).sort()).toEqual(['settings.apns.admin', 'settings.extra', 'version']);
    });

    it('refuses keys the validators would skip, bodies nested too deep and broken unicode, naming the path', async () => {
      const raw = (text: string) => postText(text, token);
      const valid = JSON.stringify(pushConfigBody());
      // Each of these was accepted (or was a 500) until the chaos campaign's fuzzing found it.
      const cases: [string, string][] = [
        [valid.replace('"settings":{', '"settings":{"toString":{},'), 'settings.toString'],
        [valid.replace('"settings":{', '"settings":{"__proto__":{"admin":true},'), 'settings.__proto__'],
        [valid.replace('"enabled_clients":[', '"enabled_clients":["\\ud800",'), 'settings.enabled_clients.0'],
        [`{"x":${'['.repeat(2000)}${']'.repeat(2000)}}`, 'x'],
      ];
      for (const [body, path] of cases) {
        const res = await raw(body).expect(400);
        expect(res.body.error).toBe('validation_error');
        expect(pathsOf(res)[0].startsWith(path)).toBe(true);
      }
    });

    it('tells only what is wrong: a wrong type alone, a body that is not an object, a mask sent back', async () => {
      const detailsOf = async (res: Promise<{ body: { details: unknown } }>) => (await res).body.details;
      expect(
        await detailsOf(post(pushConfigBody({ settings: { enabled_clients: 'web' } }), token).expect(400)),
      ).toEqual([{ path: 'settings.enabled_clients', message: 'must be an array' }]);
      expect(await detailsOf(post(pushConfigBody({ settings: { apns: 'x' } }), token).expect(400))).toEqual([
        { path: 'settings.apns', message: expect.stringMatching(/must be an object/) },
      ]);
      // JSON all the same: not "invalid JSON".
      for (const notAnObject of [[pushConfigBody()], null, 42, 'settings'])
        expect(await detailsOf(postText(JSON.stringify(notAnObject), token).expect(400))).toEqual([
          { path: '(body)', message: 'must be a JSON object' },
        ]);
      // A body copied from a GET: the mask is not a key, and the answer says how to keep the stored one.
      const copied = pushConfigBody();
      copied.settings.apns.key = '[redacted]';
      const masked = await post(copied, token).expect(400);
      expect(masked.body.details).toEqual([
        {
          path: 'settings.apns.key',
          message: expect.stringContaining('leave the field out to keep the stored one'),
        },
      ]);
    });

    it('checks the .p8 key, key and team ids, bundle id, service account fields', async () => {
      const { privatePem: rsaPem } = rsaKeyPair();
      const res = await post(
        pushConfigBody({
          settings: {
            apns: {
              bundle_id: 'com.example.my app',
              key: rsaPem,
              key_id: 'abc123defg',
              team_id: 'TEAM12345',
            },
            fcm: { client_email: 'not-an-email', private_key: apnsP8Key(), project_id: 'My_Project' },
          },
        }),
        token,
      ).expect(400);
      expect(pathsOf(res).sort()).toEqual([
        'settings.apns.bundle_id',
        'settings.apns.key',
        'settings.apns.key_id',
        'settings.apns.team_id',
        'settings.fcm.client_email',
        'settings.fcm.private_key',
        'settings.fcm.project_id',
      ]);
      const garbage = await post(
        pushConfigBody({ settings: { apns: { ...pushConfigBody().settings.apns, key: 'not a key' } } }),
        token,
      ).expect(400);
      expect(garbage.body.details).toEqual([
        { path: 'settings.apns.key', message: expect.stringContaining('PKCS#8') },
      ]);
      // Not the size Google issues (a huge one would make every access token slow to sign).
      const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string;
      const weak = await post(
        pushConfigBody({ settings: { fcm: { ...pushConfigBody().settings.fcm, private_key: small } } }),
        token,
      ).expect(400);
      expect(weak.body.details).toEqual([
        {
          path: 'settings.fcm.private_key',
          message: expect.stringMatching(/2048 to 4096 bits.*\(got 1024\)/),
        },
      ]);
    });

    it('accepts a \\n-escaped service account key and stores it usable', async () => {
      const body = pushConfigBody({
        settings: {
          apns: undefined,
          fcm: {
            client_email: 'sa@p.iam.gserviceaccount.com',
            private_key: serviceAccountPrivateKey(),
            project_id: 'escaped-key-project',
          },
        },
      });
      const escapedTenant = await tenantToken('escaped');
      await post(body, escapedTenant).expect(201);
    });

    it('enabled_clients entries are non-empty, unique and at most 1000', async () => {
      const dupes = await post(
        pushConfigBody({ settings: { enabled_clients: ['a', '', 'a'] } }),
        token,
      ).expect(400);
      expect(pathsOf(dupes).sort()).toEqual(['settings.enabled_clients.1', 'settings.enabled_clients.2']);
      const many = Array.from({ length: 1001 }, (_, i) => `c${i}`);
      expect(
        pathsOf(await post(pushConfigBody({ settings: { enabled_clients: many } }), token).expect(400)),
      ).toContain('settings.enabled_clients');
    });

    it('an enabled configuration needs apns or fcm; a disabled one may have neither', async () => {
      const none = pushConfigBody({ settings: { apns: undefined, fcm: undefined } });
      expect(pathsOf(await post(none, token).expect(400))).toEqual(['settings']);
      await post({ ...none, enabled: false }, await tenantToken('disabled-empty')).expect(201);
    });

    it('malformed JSON → 400, over 64 KiB → 413, not JSON → 415', async () => {
      const raw = (contentType: string, body: string) =>
        api
          .http()
          .post('/mfa')
          .set('Authorization', `Bearer ${token}`)
          .set('Content-Type', contentType)
          .send(body);
      const bad = await raw('application/json', '{"enabled": tru').expect(400);
      expect(bad.body.error).toBe('invalid_json');
      // Where it breaks, never the text around it: here the start of a key sent in single quotes.
      const quoted = await raw('application/json', `{"key": '-----BEGIN PRIVATE KEY-----MIG'}`).expect(400);
      expect(quoted.body.error_description).toBe('The body is not valid JSON: it has an unexpected "\'".');
      expect(JSON.stringify(quoted.body)).not.toContain('BEGI');
      const big = JSON.stringify(pushConfigBody({ settings: { enabled_clients: ['x'.repeat(70 * 1024)] } }));
      expect((await raw('application/json', big).expect(413)).body.error).toBe('payload_too_large');
      expect((await raw('text/plain', 'enabled=true').expect(415)).body.error).toBe('unsupported_media_type');
    });

    it('never stored anything for the refused bodies of this tenant', async () => {
      expect((await get('/mfa', token).expect(200)).body.total).toBe(0);
    });
  });

  it('writes with a majority write concern, bounded: on a replica set, nothing it confirmed is rolled back', () => {
    const { writeConcern } = api.app.get<Connection>(getConnectionToken()).getClient().options;
    expect([writeConcern?.w, writeConcern?.wtimeoutMS]).toEqual(['majority', 10_000]);
  });

  describe('secrets at rest', () => {
    it('the raw database document holds ciphertext bound to its key id, and no key material', async () => {
      const connection = await mongoose.createConnection(api.config.mongodbUri).asPromise();
      try {
        const documents = await connection.collection('mfa_configs').find({}).toArray();
        expect(documents.length).toBeGreaterThan(0);
        // Every text but the ciphertexts and nonces, whose random base64 may hold "MIG" by chance.
        const texts: string[] = [];
        const collect = (value: unknown, key: string) => {
          if (typeof value === 'string' && key !== 'ciphertext' && key !== 'nonce') texts.push(value);
          else if (value && typeof value === 'object')
            for (const [child, inner] of Object.entries(value)) collect(inner, child);
        };
        collect(documents, '');
        expect(texts.length).toBeGreaterThan(0);
        expect(texts.join('\n')).not.toMatch(/BEGIN|PRIVATE KEY|MIG|MIIE/);
        const acme = documents.find((d) => d.tenant === 'acme')!;
        expect(acme.settings.apns.key).toEqual({
          kid: 'k1',
          nonce: expect.any(String),
          ciphertext: expect.any(String),
        });
        expect(Buffer.from(acme.settings.apns.key.nonce, 'base64')).toHaveLength(12);
      } finally {
        await connection.close();
      }
    });
  });

  describe('the outbox', () => {
    it('publishes each event once, then removes it from the document', async () => {
      const connection = await mongoose.createConnection(api.config.mongodbUri).asPromise();
      try {
        const pending = async () =>
          (await connection.collection('mfa_configs').find({}).toArray()).flatMap((d) => d.pending_events);
        for (let i = 0; i < 50 && (await pending()).length > 0; i++)
          await new Promise((resolve) => setTimeout(resolve, 100));
        expect(await pending()).toEqual([]);
        // Several relay passes later, still no event went out twice.
        await new Promise((resolve) => setTimeout(resolve, 2500));
        const ids = events.messages.map((m) => m.value.event_id);
        expect(ids.length).toBeGreaterThan(3);
        const repeated = events.messages.filter((m, i) => ids.indexOf(m.value.event_id) !== i);
        expect(repeated.map((m) => m.raw)).toEqual([]);
      } finally {
        await connection.close();
      }
    });
  });

  describe('surroundings', () => {
    it('serves OpenAPI at /docs-json with the DTOs and examples', async () => {
      const res = await api.http().get('/docs-json').expect(200);
      expect(res.body.paths['/mfa'].post).toBeDefined();
      expect(res.body.components.schemas.CreateMfaDto.required).toEqual(
        expect.arrayContaining(['enabled', 'provider', 'type', 'settings']),
      );
      expect(res.body.components.schemas.ApnsSettingsDto.properties.key_id.example).toBe('ABC123DEFG');
      // Typed as what they are, not as an empty object (a property initialiser has no design type).
      expect(
        (res.body.paths['/mfa'].get.parameters as { name: string; schema: object }[])
          .filter(({ name }) => name === 'limit' || name === 'offset')
          .map(({ schema }) => schema),
      ).toEqual([
        { type: 'integer', minimum: 1, maximum: 100, default: 50 },
        { type: 'integer', minimum: 0, default: 0 },
      ]);
      // The create's defaults are not a PATCH's: there an omitted field keeps its stored value.
      const { schemas } = res.body.components;
      expect([
        schemas.ApnsSettingsDto.properties.production.default,
        schemas.PushSettingsDto.properties.strategy.default,
      ]).toEqual([true, 'code']);
      for (const field of [
        schemas.UpdateApnsSettingsDto.properties.production,
        schemas.UpdatePushSettingsDto.properties.strategy,
      ]) {
        expect(field.default).toBeUndefined();
        expect(field.description).toContain('Omitted: keeps its stored value');
      }
      await api.http().get('/docs').expect(200);
    });

    it('answers as its OpenAPI document says, errors included, with nothing undocumented', async () => {
      const document = new OpenApiResponses((await api.http().get('/docs-json').expect(200)).body);
      const token = await tenantToken('openapi-shapes');
      const answers: [string, string, { status: number; body: unknown }][] = [
        ['GET', '/mfa/{type}', await get('/mfa/push', token)],
        ['POST', '/mfa', await post(pushConfigBody(), token)],
        ['POST', '/mfa', await post(pushConfigBody(), token)],
        ['POST', '/mfa', await post(pushConfigBody({ settings: { apns: { key_id: 'x' } } }), token)],
        ['POST', '/mfa', await api.http().post('/mfa').send(pushConfigBody())],
        ['GET', '/mfa', await get('/mfa', token)],
        ['GET', '/mfa', await get('/mfa?limit=0', token)],
        ['GET', '/mfa/{type}', await get('/mfa/push', token)],
        ['PATCH', '/mfa/{type}', await patch({ settings: { fcm: null } }, token)],
        ['DELETE', '/mfa/{type}', await del(token)],
      ];
      expect(answers.map(([, , res]) => res.status)).toEqual([
        404, 201, 409, 400, 401, 200, 400, 200, 200, 204,
      ]);
      for (const [method, path, res] of answers)
        expect({
          [`${method} ${path} ${res.status}`]: document.problems(method, path, res.status, res.body),
        }).toEqual({
          [`${method} ${path} ${res.status}`]: [],
        });
    });

    it('exposes Prometheus metrics: requests by route and status, latency, outbox backlog', async () => {
      const text = (await api.http().get('/metrics').expect(200)).text;
      expect(text).toMatch(/^http_requests_total\{route="\/mfa",method="POST",status="201"\} [1-9]/m);
      expect(text).toMatch(/^http_requests_total\{route="\/mfa\/:type",method="GET",status="404"\} [1-9]/m);
      expect(text).toMatch(
        /^http_request_duration_seconds_bucket\{le="0.1",route="\/mfa",method="POST"\} [1-9]/m,
      );
      expect(text).toMatch(/^mfa_outbox_backlog \d+/m);
    });

    it('answers unknown routes with the error shape', async () => {
      const res = await api.http().get('/nowhere').expect(404);
      expect(res.body).toMatchObject({ status: 404, error: 'not_found' });
    });

    it('answers another method on an MFA route with 405 and the methods it takes', async () => {
      const cases: [string, string, string][] = [
        ['put', '/mfa/push', 'GET, HEAD, PATCH, DELETE'],
        ['post', '/api/v1/mfa/push/', 'GET, HEAD, PATCH, DELETE'],
        ['delete', '/mfa', 'GET, HEAD, POST'],
        ['patch', '/api/v1/mfa/', 'GET, HEAD, POST'],
      ];
      for (const [method, path, allowed] of cases) {
        const res = await api.http()[method as 'put'](path).set('Authorization', `Bearer ${admin}`);
        expect([res.status, res.headers.allow, res.body.error]).toEqual([405, allowed, 'method_not_allowed']);
      }
      // The routes themselves still answer (HEAD as GET).
      await api.http().head('/mfa/push').set('Authorization', `Bearer ${admin}`).expect(200);
    });
  });
});
