import { createHash, generateKeyPairSync, KeyObject } from 'node:crypto';
import type { Response } from 'supertest';
import { resolveTopicNames } from '@lib/contracts';
import { rsaKeyPair, tenantCredentials } from './fixtures/keys';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { fcmDeviceToken, pushRequest } from './fixtures/push-request.builder';
import { ApnsPeer } from './peers/apns-peer';
import { FcmPeer } from './peers/fcm-peer';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { DispatcherStack, startDispatcherStack } from './support/dispatcher.harness';
import { testEnvironment } from './support/test-environment';
import { TopicReader } from './support/topic-reader';

// Behaviours of the config-api's contract that config-api.e2e-spec.ts does not pin down.

const ALL_SCOPES = ['write:mfa', 'read:mfa', 'update:mfa', 'delete:mfa'];

/** The fingerprint as libs/crypto defines it, computed here on its own: SHA-256 of the SPKI DER, in hex. */
const fingerprintOf = (publicKey: KeyObject) =>
  `sha256:${createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')}`;

/** A service account's private_key as copied from its JSON file into a form: newlines as `\n`. */
const escapeNewlines = (pem: string) => pem.replace(/\n/g, '\\n');

const pkcs8 = (pair: { privateKey: KeyObject }) =>
  pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

/** One admin of one config-api: the token's claims say which tenant. */
function adminOf(api: ConfigApiHarness, claims: Record<string, unknown>, scopes = ALL_SCOPES) {
  const authorization = api.token(scopes, claims).then((token) => `Bearer ${token}`);
  return {
    post: async (body: unknown, path = '/mfa'): Promise<Response> =>
      api
        .http()
        .post(path)
        .set('Authorization', await authorization)
        .send(body as object),
    /** A body sent as it is, with the content type given. */
    postText: async (contentType: string, text: string, path = '/mfa'): Promise<Response> =>
      api
        .http()
        .post(path)
        .set('Authorization', await authorization)
        .set('Content-Type', contentType)
        .send(text),
    patch: async (body: unknown): Promise<Response> =>
      api
        .http()
        .patch('/mfa/push')
        .set('Authorization', await authorization)
        .send(body as object),
    get: async (path = '/mfa/push'): Promise<Response> =>
      api
        .http()
        .get(path)
        .set('Authorization', await authorization),
  };
}

describe('config-api contract (real FerretDB and Kafka)', () => {
  let api: ConfigApiHarness;

  beforeAll(async () => {
    api = await startConfigApi();
  });
  afterAll(async () => {
    await api.close();
  });

  describe('fingerprints', () => {
    it('are the SHA-256 of each public key (SPKI DER) in every response, whether the PEM came escaped or not', async () => {
      const admin = adminOf(api, { tenant_id: 'fingerprints' });
      const first = tenantCredentials();
      const { apns, fcm } = pushConfigBody().settings;
      const created = await admin.post(
        pushConfigBody({
          settings: {
            apns: { ...apns, key: first.apnsKey },
            fcm: { ...fcm, private_key: escapeNewlines(first.fcmPrivateKey) },
          },
        }),
      );
      expect(created.status).toBe(201);
      const expected = {
        apns: { key_fingerprint: fingerprintOf(first.apnsPublicKey) },
        fcm: { private_key_fingerprint: fingerprintOf(first.fcmPublicKey) },
      };
      const read = await admin.get();
      const listed = await admin.get('/mfa');
      for (const settings of [created.body.settings, read.body.settings, listed.body.results[0].settings])
        expect(settings).toMatchObject(expected);

      const rotated = tenantCredentials();
      const patched = await admin.patch({
        settings: { apns: { key: rotated.apnsKey }, fcm: { private_key: rotated.fcmPrivateKey } },
      });
      expect(patched.status).toBe(200);
      expect(patched.body.settings).toMatchObject({
        apns: { key_fingerprint: fingerprintOf(rotated.apnsPublicKey) },
        fcm: { private_key_fingerprint: fingerprintOf(rotated.fcmPublicKey) },
      });
    });
  });

  describe('the SDK’s exact call: base URL + /api/v1, then /mfa/ with a trailing slash', () => {
    // Where that SDK sends its create: the base URL it is given, + /api/v1, + /mfa/.
    const SDK_PATH = '/api/v1/mfa/';
    const sdk = () => adminOf(api, { tenant_id: 'sdk' });

    it('POST /api/v1/mfa/ answers 201 with the created resource', async () => {
      const body = pushConfigBody();
      const res = await sdk().postText('application/json; charset=utf-8', JSON.stringify(body), SDK_PATH);
      expect(res.status).toBe(201);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toMatchObject({
        enabled: true,
        provider: 'native',
        type: 'push',
        version: 1,
        settings: {
          enabled_clients: body.settings.enabled_clients,
          strategy: body.settings.strategy,
          apns: { bundle_id: body.settings.apns.bundle_id, key: '[redacted]', production: true },
          fcm: { client_email: body.settings.fcm.client_email, private_key: '[redacted]' },
        },
      });
      // The stored resource, not an echo of the request: the canonical route reads back the same.
      expect((await sdk().get('/mfa/push')).body).toEqual(res.body);
    });

    // Every error the SDK can meet on its paths, as it reads them: from the `error` field.
    it.each<[string, number, string, () => Promise<Response>]>([
      ['an invalid body', 400, 'validation_error', () => sdk().post({}, SDK_PATH)],
      [
        'malformed JSON',
        400,
        'invalid_json',
        () => sdk().postText('application/json', '{"enabled": tru', SDK_PATH),
      ],
      ['no token', 401, 'invalid_token', async () => api.http().post(SDK_PATH).send(pushConfigBody())],
      [
        'a token without write:mfa',
        403,
        'insufficient_scope',
        () => adminOf(api, { tenant_id: 'sdk' }, ['read:mfa']).post(pushConfigBody(), SDK_PATH),
      ],
      ['an unknown type', 404, 'not_found', () => sdk().get(`${SDK_PATH}sms/`)],
      // The create of the test above exists.
      ['a second create', 409, 'conflict', () => sdk().post(pushConfigBody(), SDK_PATH)],
      [
        'a body over 64 KiB',
        413,
        'payload_too_large',
        () =>
          sdk().post(pushConfigBody({ settings: { enabled_clients: ['x'.repeat(70 * 1024)] } }), SDK_PATH),
      ],
      [
        'a body that is not JSON',
        415,
        'unsupported_media_type',
        () => sdk().postText('text/plain', 'enabled=true', SDK_PATH),
      ],
    ])('%s answers %i with error "%s"', async (_, status, error, call) => {
      const res = await call();
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ status, error, error_description: expect.any(String) });
    });
  });

  describe('the APNs key must be EC P-256', () => {
    const otherKeys: [string, () => string][] = [
      ['a P-384 EC key', () => pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-384' }))],
      // 256 bits as well: a check of the key size alone would let it through.
      ['a secp256k1 EC key', () => pkcs8(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }))],
      ['an Ed25519 key', () => pkcs8(generateKeyPairSync('ed25519'))],
    ];
    const expectRefusedAsApnsKey = (res: Response) => {
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 400, error: 'validation_error' });
      expect(res.body.details).toEqual([
        { path: 'settings.apns.key', message: expect.stringContaining('EC P-256') },
      ]);
    };

    it.each(otherKeys)(
      'POST refuses %s with 400 naming settings.apns.key, and stores nothing',
      async (_, key) => {
        const admin = adminOf(api, { tenant_id: 'curves' });
        const { apns } = pushConfigBody().settings;
        expectRefusedAsApnsKey(
          await admin.post(pushConfigBody({ settings: { apns: { ...apns, key: key() } } })),
        );
        expect((await admin.get('/mfa')).body.total).toBe(0);
      },
    );

    it('PATCH refuses each of them too, and the live key stays', async () => {
      const admin = adminOf(api, { tenant_id: 'curves-patch' });
      const created = await admin.post(pushConfigBody());
      expect(created.status).toBe(201);
      for (const [, key] of otherKeys)
        expectRefusedAsApnsKey(await admin.patch({ settings: { apns: { key: key() } } }));
      const live = (await admin.get()).body;
      expect(live.version).toBe(created.body.version);
      expect(live.settings.apns.key_fingerprint).toBe(created.body.settings.apns.key_fingerprint);
    });
  });

  describe('AUTH_TENANT_CLAIM names the claim that carries the tenant', () => {
    let orgApi: ConfigApiHarness;
    let events: TopicReader;

    beforeAll(async () => {
      orgApi = await startConfigApi(testEnvironment({ AUTH_TENANT_CLAIM: 'org' }));
      events = await new TopicReader(
        orgApi.config,
        resolveTopicNames(orgApi.config.kafka).configChanged,
      ).start();
    });
    afterAll(async () => {
      await events.stop();
      await orgApi.close();
    });

    const clientsOf = async (claims: Record<string, unknown>) =>
      (await adminOf(orgApi, claims).get()).body.settings?.enabled_clients;

    it('tokens with different "org" claims act on separate tenants', async () => {
      const acme = adminOf(orgApi, { org: 'acme' });
      const globex = adminOf(orgApi, { org: 'globex' });
      expect((await acme.post(pushConfigBody({ settings: { enabled_clients: ['acme-app'] } }))).status).toBe(
        201,
      );
      expect((await globex.get()).status).toBe(404);
      expect((await globex.get('/mfa')).body).toEqual({ total: 0, results: [] });
      expect((await globex.patch({ enabled: false })).status).toBe(404);
      expect(
        (await globex.post(pushConfigBody({ settings: { enabled_clients: ['globex-app'] } }))).status,
      ).toBe(201);
      expect(await clientsOf({ org: 'acme' })).toEqual(['acme-app']);
      expect(await clientsOf({ org: 'globex' })).toEqual(['globex-app']);
      // The claim's value is the tenant the events name.
      for (const tenant of ['acme', 'globex']) {
        const event = await events.waitFor((m) => m.key === `${tenant}/push`);
        expect(event.value).toMatchObject({ tenant, change: 'created' });
      }
    });

    it('ignores the default claim name: a token with only tenant_id has no tenant, and is refused naming "org"', async () => {
      const legacy = await adminOf(orgApi, { tenant_id: 'acme' }).get();
      expect(legacy.status).toBe(401);
      expect(legacy.body.error_description).toContain('no org claim');
      expect(await clientsOf({ org: 'acme' })).toEqual(['acme-app']);
      // With both claims, "org" decides.
      expect(await clientsOf({ org: 'globex', tenant_id: 'acme' })).toEqual(['globex-app']);
    });

    it('refuses a token whose "org" is not a tenant id, naming that claim', async () => {
      const res = await adminOf(orgApi, { org: 42 }).get('/mfa');
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: 'invalid_token' });
      expect(res.body.error_description).toContain('org');
    });
  });

  describe('a \\n-escaped service account key, through the real dispatcher and the FCM peer', () => {
    const env = testEnvironment();
    let pushApi: ConfigApiHarness;
    let apnsPeer: ApnsPeer;
    let fcmPeer: FcmPeer;
    let stack: DispatcherStack;

    beforeAll(async () => {
      [apnsPeer, fcmPeer] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
      pushApi = await startConfigApi(env);
      stack = await startDispatcherStack(env, { apns: apnsPeer, fcm: fcmPeer });
    });
    afterAll(async () => {
      await stack?.close();
      await pushApi?.close();
      await Promise.allSettled([apnsPeer.stop(), fcmPeer.stop()]);
    });

    it('is stored usable: the OAuth2 token exchange with it succeeds and the FCM push is delivered', async () => {
      const tenant = 'escaped-sa';
      const projectId = 'escaped-sa-project';
      const clientEmail = `push@${projectId}.iam.gserviceaccount.com`;
      const serviceAccount = rsaKeyPair();
      const escaped = escapeNewlines(serviceAccount.privatePem);
      expect(escaped).not.toContain('\n');
      // The peer grants tokens only to assertions this account's private key signed.
      fcmPeer.registerServiceAccount(clientEmail, serviceAccount.publicKey, projectId);

      const created = await adminOf(pushApi, { tenant_id: tenant }).post(
        pushConfigBody({
          settings: {
            apns: undefined,
            fcm: { client_email: clientEmail, private_key: escaped, project_id: projectId },
          },
        }),
      );
      expect(created.status).toBe(201);
      const appliedEvent = await stack.applied.waitFor(
        (m) => m.value.tenant === tenant && m.value.version === created.body.version,
        30_000,
      );
      expect(appliedEvent.value).toMatchObject({ status: 'applied' });

      const request = pushRequest({ tenant, device: { provider: 'fcm', token: fcmDeviceToken() } });
      await stack.requester.request(request);
      expect(await stack.resultOf(request.challenge_id, 30_000)).toMatchObject({
        status: 'sent',
        provider: 'fcm',
      });
      expect(fcmPeer.tokenRequests).toBeGreaterThan(0);
      const delivery = fcmPeer.delivered().find((d) => d.message.token === request.device.token);
      expect(delivery).toMatchObject({
        project: projectId,
        authorization: expect.stringMatching(/^Bearer ya29\./),
      });
    });
  });
});
