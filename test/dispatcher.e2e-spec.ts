import { randomUUID } from 'node:crypto';
import { ConfigChangedEvent, configChangedKey, PushRequestedEvent, resolveTopicNames } from '@lib/contracts';
import { tenantCredentials } from './fixtures/keys';
import { apnsDeviceToken, fcmDeviceToken, pushRequest } from './fixtures/push-request.builder';
import { ApnsPeer } from './peers/apns-peer';
import { FcmPeer } from './peers/fcm-peer';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import {
  DispatcherHarness,
  DispatcherStack,
  PushRequester,
  startDispatcherStack,
} from './support/dispatcher.harness';
import { waitUntil } from './support/push-tenants';
import { testEnvironment } from './support/test-environment';
import { OpenApiResponses } from './support/openapi-responses';
import { TopicReader } from './support/topic-reader';

const TEAM = 'TEAM123456';
const BUNDLE = 'com.acme.authenticator';

/** A push request to a fresh FCM device of the tenant. */
const fcmPushTo = (tenant: string, overrides: Partial<PushRequestedEvent> = {}) =>
  pushRequest({ tenant, device: { provider: 'fcm', token: fcmDeviceToken() }, ...overrides });

describe('dispatcher (real Kafka, FerretDB, node-apn and firebase-admin against loopback peers)', () => {
  const env = testEnvironment();
  let api: ConfigApiHarness;
  let apns: ApnsPeer;
  let fcm: FcmPeer;
  let stack: DispatcherStack;
  let dispatcher: DispatcherHarness;
  let requester: PushRequester;
  let results: TopicReader;
  let applied: TopicReader;
  let deadLetters: TopicReader;

  /** Creates (or replaces) a tenant's configuration through the REST API and waits until the dispatcher applied it. */
  async function configure(tenant: string, settings: Record<string, unknown>, enabled = true) {
    const credentials = tenantCredentials();
    const keyId = `K${Math.random().toString(36).slice(2, 11).toUpperCase().padEnd(9, '0')}`;
    apns.registerKey(keyId, TEAM, credentials.apnsPublicKey);
    const projectId = `proj-${tenant}`.toLowerCase();
    const clientEmail = `push@${projectId}.iam.gserviceaccount.com`;
    fcm.registerServiceAccount(clientEmail, credentials.fcmPublicKey, projectId);
    const token = await api.token(['write:mfa'], { tenant_id: tenant });
    const body = {
      enabled,
      provider: 'native',
      type: 'push',
      settings: {
        enabled_clients: ['web-login'],
        apns: {
          bundle_id: BUNDLE,
          key: credentials.apnsKey,
          key_id: keyId,
          team_id: TEAM,
          production: false,
        },
        fcm: { client_email: clientEmail, private_key: credentials.fcmPrivateKey, project_id: projectId },
        ...settings,
      },
    };
    const res = await api.http().post('/mfa').set('Authorization', `Bearer ${token}`).send(body).expect(201);
    await applied.waitFor((m) => m.value.tenant === tenant && m.value.version === res.body.version);
    return { keyId, projectId, credentials, version: res.body.version as number };
  }

  async function patch(tenant: string, body: object) {
    const token = await api.token(['update:mfa'], { tenant_id: tenant });
    const res = await api
      .http()
      .patch('/mfa/push')
      .set('Authorization', `Bearer ${token}`)
      .send(body)
      .expect(200);
    return res.body as { version: number };
  }

  /** The configuration status admins read in GET /mfa/push, once it satisfies `until` (10 s at most). */
  /** The apply status GET /mfa/push shows, once `until` holds; the answer must match the OpenAPI document. */
  async function statusOf(tenant: string, until: (status: Record<string, unknown>) => boolean) {
    const token = await api.token(['read:mfa'], { tenant_id: tenant });
    let body: { status?: Record<string, unknown> } = {};
    for (let i = 0; i < 100 && !(body.status && until(body.status)); i++) {
      if (i) await new Promise((resolve) => setTimeout(resolve, 100));
      body = (await api.http().get('/mfa/push').set('Authorization', `Bearer ${token}`).expect(200)).body;
    }
    const document = new OpenApiResponses((await api.http().get('/docs-json').expect(200)).body);
    expect(document.problems('GET', '/mfa/{type}', 200, body)).toEqual([]);
    return body.status;
  }

  const scrape = async () => {
    const { OperationsServer } = await import('../apps/dispatcher/src/health/operations.server');
    const port = dispatcher.app.get(OperationsServer).port;
    return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  };
  const metric = async (pattern: RegExp) => Number(pattern.exec(await scrape())?.[1] ?? 0);

  /** The push group's lag on `partition`, once `until` holds it (5 s at most). */
  async function lagOf(partition: number, until: (lag: number) => boolean): Promise<number> {
    const pattern = new RegExp(`^mfa_consumer_lag\\{partition="${partition}"\\} (\\d+)$`, 'm');
    let lag = await metric(pattern);
    for (let i = 0; i < 50 && !until(lag); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      lag = await metric(pattern);
    }
    return lag;
  }

  const resultOf = (challengeId: string, timeoutMs?: number) => stack.resultOf(challengeId, timeoutMs);

  beforeAll(async () => {
    [apns, fcm] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
    apns.allowTopic(TEAM, BUNDLE);
    api = await startConfigApi(env);
    stack = await startDispatcherStack(env, { apns, fcm });
    ({ dispatcher, requester, results, applied } = stack);
    deadLetters = await new TopicReader(
      dispatcher.config,
      resolveTopicNames(dispatcher.config.kafka).pushDeadLetter,
    ).start();
  });

  afterAll(async () => {
    await deadLetters?.stop();
    await stack?.close();
    await api?.close();
    await Promise.allSettled([apns.stop(), fcm.stop()]);
  });

  describe('number matching (code)', () => {
    let keyId: string;
    beforeAll(async () => {
      ({ keyId } = await configure('numbers', { strategy: 'code' }));
    });

    it('delivers through APNs with every documented header, three choices and no hint of the right one', async () => {
      const request = pushRequest({ tenant: 'numbers', code: '42', message: { locale: 'tr-TR' } });
      await requester.request(request);
      const result = await resultOf(request.challenge_id);
      expect(result).toMatchObject({
        status: 'sent',
        provider: 'apns',
        tenant: 'numbers',
        attempts: 1,
        retryable: false,
      });
      expect(result.provider_message_id).toEqual(expect.any(String));
      const delivery = apns.delivered().find((d) => d.token === request.device.token)!;
      expect(delivery.keyId).toBe(keyId);
      expect(delivery.teamId).toBe(TEAM);
      expect(delivery.headers).toMatchObject({
        'apns-topic': BUNDLE,
        'apns-push-type': 'alert',
        'apns-priority': '10',
        'apns-expiration': String(Math.floor(Date.parse(request.expires_at) / 1000)),
        'apns-collapse-id': request.challenge_id,
      });
      const { aps, ...custom } = delivery.payload;
      expect(aps).toMatchObject({
        category: 'MFA_NUMBER_MATCH',
        'interruption-level': 'time-sensitive',
        // For the app's Notification Service Extension, to show the numbers before the app is opened.
        'mutable-content': 1,
      });
      expect(aps.alert.body).toContain('Tap the number shown on your Acme Portal sign-in screen');
      expect(JSON.stringify(aps.alert)).not.toContain('42');
      const values = custom.values.split(',');
      expect(values).toHaveLength(3);
      expect(new Set(values).size).toBe(3);
      expect(values).toContain('42');
      values.forEach((value: string) => expect(value).toMatch(/^\d{2}$/));
      expect(custom).toMatchObject({
        challenge_id: request.challenge_id,
        strategy: 'code',
        context_token: request.context_token,
        // For the app: when to stop offering the challenge, and the language to show it in.
        expires_at: request.expires_at,
        locale: 'tr-TR',
      });
      expect(custom.code).toBeUndefined();
    });

    it('delivers through FCM HTTP v1 with high priority, a TTL up to expiry, the collapse key and string data', async () => {
      const request = pushRequest({
        tenant: 'numbers',
        code: '7',
        values: ['3', '7', '9'],
        device: { provider: 'fcm', token: fcmDeviceToken() },
      });
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({
        status: 'sent',
        provider: 'fcm',
        attempts: 1,
      });
      const delivery = fcm.delivered().find((d) => d.message.token === request.device.token)!;
      expect(delivery.project).toBe('proj-numbers');
      const { android, apns, data, notification } = delivery.message;
      expect(android.priority).toBe('high');
      expect(android.collapse_key).toBe(request.challenge_id);
      const ttlSeconds = Number(String(android.ttl).replace(/s$/, ''));
      expect(ttlSeconds).toBeGreaterThan(30);
      expect(ttlSeconds).toBeLessThanOrEqual(60);
      expect(Object.values(data).every((value) => typeof value === 'string')).toBe(true);
      expect(data).toMatchObject({ challenge_id: request.challenge_id, strategy: 'code' });
      // The caller's numbers, in an order of the dispatcher's own.
      expect(data.values.split(',').sort()).toEqual(['3', '7', '9']);
      expect(notification.title).toBe('Confirm your sign-in');
      // The same token may be an iOS app's: Apple then gets the expiry, buttons and collapse id too.
      const expiry = Math.floor(Date.parse(request.expires_at) / 1000);
      expect(apns.headers).toEqual({
        'apns-expiration': String(expiry),
        'apns-priority': '10',
        'apns-push-type': 'alert',
        'apns-collapse-id': request.challenge_id,
      });
      expect(apns.payload.aps).toEqual({
        category: 'MFA_NUMBER_MATCH',
        sound: 'default',
        'interruption-level': 'time-sensitive',
        'mutable-content': 1,
      });
    });

    it('a push sent again (its connection reset mid-send, so it may have arrived) offers the same numbers in the same order', async () => {
      // Two draws for one challenge would share only the code, and show it to whoever saw both.
      apns.resetConnectionsNext(1);
      const request = pushRequest({ tenant: 'numbers', code: '42' });
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'sent', attempts: 2 });
      const sends = apns.received.filter((d) => d.token === request.device.token);
      expect(sends.map((d) => d.status)).toEqual([0, 200]);
      expect(sends[1].payload.values).toBe(sends[0].payload.values);
    });

    it('shows admins through GET /mfa/push that the configuration is live', async () => {
      expect(await statusOf('numbers', (status) => status.version === 1)).toEqual({
        version: 1,
        state: 'applied',
        error: null,
        at: expect.any(String),
      });
    });

    it('rejects a request naming another strategy, a code request without a code, and values without the code or repeated', async () => {
      const prompt = pushRequest({ tenant: 'numbers', strategy: 'prompt' });
      const noCode = pushRequest({ tenant: 'numbers' });
      const badValues = pushRequest({ tenant: 'numbers', code: '12', values: ['10', '11', '13'] });
      const repeatedValues = pushRequest({ tenant: 'numbers', code: '12', values: ['12', '12', '13'] });
      const shorterDecoy = pushRequest({ tenant: 'numbers', code: '12', values: ['12', '7', '45'] });
      await Promise.all(
        [prompt, noCode, badValues, repeatedValues, shorterDecoy].map((r) => requester.request(r)),
      );
      expect(await resultOf(prompt.challenge_id)).toMatchObject({
        status: 'rejected',
        reason: expect.stringContaining('strategy_mismatch'),
      });
      expect(await resultOf(noCode.challenge_id)).toMatchObject({
        status: 'rejected',
        reason: expect.stringContaining('code is required'),
      });
      expect(await resultOf(badValues.challenge_id)).toMatchObject({
        status: 'rejected',
        reason: expect.stringContaining('values must contain code'),
      });
      // Two equal choices would let the user tap the right one by chance more often than one in three.
      expect(await resultOf(repeatedValues.challenge_id)).toMatchObject({
        status: 'rejected',
        reason: expect.stringMatching(/values.*duplicate/),
      });
      // A decoy of another length is one the user can rule out without looking at the sign-in page.
      expect(await resultOf(shorterDecoy.challenge_id)).toMatchObject({
        status: 'rejected',
        reason: 'invalid_request: values must all have as many digits as code',
      });
    });
  });

  describe('approve/deny (prompt)', () => {
    beforeAll(async () => {
      await configure('prompts', { strategy: 'prompt' });
    });

    it.each(['apns', 'fcm'] as const)(
      'delivers a prompt through %s with the category, context and context token',
      async (provider) => {
        const token = provider === 'apns' ? apnsDeviceToken() : fcmDeviceToken();
        const request = pushRequest({ tenant: 'prompts', device: { provider, token } });
        await requester.request(request);
        expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'sent', provider });
        if (provider === 'apns') {
          const { aps, ...custom } = apns.delivered().find((d) => d.token === token)!.payload;
          expect(aps.category).toBe('MFA_PROMPT');
          expect(aps.alert).toEqual({
            title: 'Approve sign-in?',
            body: 'Someone is signing in to Acme Portal from Lisbon, PT. Approve if it is you.',
          });
          expect(custom).toMatchObject({ strategy: 'prompt', context_token: request.context_token });
          expect(JSON.parse(custom.context)).toEqual(request.context);
        } else {
          const { data, android } = fcm.delivered().find((d) => d.message.token === token)!.message;
          expect(android.notification.click_action).toBe('MFA_PROMPT');
          expect(data).toMatchObject({ strategy: 'prompt', context_token: request.context_token });
        }
      },
    );

    it('uses the requester’s title and body when given', async () => {
      const request = pushRequest({
        tenant: 'prompts',
        message: { title: 'Sign in to Acme?', body: 'From Firefox in Lisbon' },
      });
      await requester.request(request);
      await resultOf(request.challenge_id);
      const delivery = apns.delivered().find((d) => d.token === request.device.token)!;
      expect(delivery.payload.aps.alert).toEqual({
        title: 'Sign in to Acme?',
        body: 'From Firefox in Lisbon',
      });
    });
  });

  describe('every refusal publishes its result', () => {
    beforeAll(async () => {
      await configure('apns-only', { strategy: 'prompt', fcm: undefined });
    });

    it.each([
      ['an unknown tenant', { tenant: 'nobody' }, 'mfa_not_configured'],
      ['a client not enabled', { tenant: 'apns-only', client_id: 'other-app' }, 'client_not_enabled'],
      [
        'a provider not configured',
        { tenant: 'apns-only', device: { provider: 'fcm' as const, token: 'x' } },
        'provider_not_configured',
      ],
    ])('%s → rejected', async (_, overrides, reason) => {
      const request = pushRequest(overrides);
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({
        status: 'rejected',
        reason,
        retryable: false,
        attempts: 0,
      });
    });

    it('a request whose push would exceed what Apple and Google accept is rejected, naming what to shorten, and never sent', async () => {
      // Each field within its own limit; together, and in a script of 3 bytes a character, over 4 KB.
      const long = pushRequest({
        tenant: 'apns-only',
        message: { title: '確'.repeat(200), body: '確'.repeat(1000) },
        context: { location: '確'.repeat(200) },
      });
      const fits = pushRequest({ tenant: 'apns-only', message: { body: '確'.repeat(1000) } });
      await Promise.all([long, fits].map((r) => requester.request(r)));
      expect(await resultOf(long.challenge_id)).toMatchObject({
        status: 'rejected',
        retryable: false,
        reason: expect.stringMatching(
          /^invalid_request: the push would carry \d+ bytes, over the 4096 APNs accepts; shorten message.title, message.body, message.locale, context or context_token$/,
        ),
      });
      expect(apns.received.find((d) => d.token === long.device.token)).toBeUndefined();
      expect(await resultOf(fits.challenge_id)).toMatchObject({ status: 'sent' });
    });

    it('an expired challenge is never sent', async () => {
      const request = pushRequest({
        tenant: 'apns-only',
        expires_at: new Date(Date.now() - 1000).toISOString(),
      });
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'expired', attempts: 0 });
      expect(apns.received.find((d) => d.token === request.device.token)).toBeUndefined();
    });

    it('dead device tokens fail without retry, so callers can drop the device', async () => {
      const gone = pushRequest({ tenant: 'apns-only' });
      apns.markUnregistered(gone.device.token, Date.parse('2026-11-30T08:00:00.000Z'));
      const fcmGone = fcmPushTo('prompts');
      fcm.markUnregistered(fcmGone.device.token);
      const fcmBad = pushRequest({
        tenant: 'prompts',
        device: { provider: 'fcm', token: `bad-${fcmDeviceToken()}` },
      });
      await Promise.all([gone, fcmGone, fcmBad].map((r) => requester.request(r)));
      for (const request of [gone, fcmGone, fcmBad])
        expect(await resultOf(request.challenge_id)).toMatchObject({
          status: 'failed',
          reason: 'device_token_invalid',
          retryable: false,
        });
      // When Apple last knew it invalid: a device that registered the token since still has it.
      expect((await resultOf(gone.challenge_id)).detail).toBe(
        '410 Unregistered; invalid since 2026-11-30T08:00:00.000Z',
      );
      // Not retried: each peer refused each token exactly once (a connection-level retry before it may happen).
      expect(apns.received.filter((d) => d.token === gone.device.token && d.status >= 400)).toHaveLength(1);
      for (const request of [fcmGone, fcmBad])
        expect(
          fcm.received.filter((d) => d.message.token === request.device.token && d.status >= 400),
        ).toHaveLength(1);
    });

    it('an APNs device token that is not hex is refused as an invalid request, and never sent', async () => {
      const requests = ['not-hex', `<${apnsDeviceToken().slice(0, 8)} ${apnsDeviceToken().slice(0, 8)}>`].map(
        (token) => pushRequest({ tenant: 'apns-only', device: { provider: 'apns', token } }),
      );
      await Promise.all(requests.map((r) => requester.request(r)));
      for (const request of requests) {
        expect(await resultOf(request.challenge_id)).toMatchObject({
          status: 'rejected',
          reason: expect.stringMatching(/^invalid_request: device\.token must match pattern/),
          retryable: false,
        });
        expect(apns.received.filter((d) => d.token === request.device.token)).toEqual([]);
      }
    });

    it('a token Apple refuses for this app or environment is a mismatch, not a dead device: a wrong bundle_id or production flag must not make callers drop every token', async () => {
      const otherApp = pushRequest({ tenant: 'apns-only' });
      apns.issueFor(otherApp.device.token, 'com.example.other-app');
      // Apple answers BadDeviceToken alike for a otherEnvironment token and one of the other APNs environment.
      const otherEnvironment = pushRequest({ tenant: 'apns-only' });
      apns.issueInOtherEnvironment(otherEnvironment.device.token);
      await Promise.all([otherApp, otherEnvironment].map((r) => requester.request(r)));
      for (const [request, answer] of [
        [otherApp, '400 DeviceTokenNotForTopic'],
        [otherEnvironment, '400 BadDeviceToken'],
      ] as const)
        expect(await resultOf(request.challenge_id)).toMatchObject({
          status: 'failed',
          reason: 'device_token_mismatch',
          detail: answer,
          retryable: false,
        });
      // Not retried either: one refusal per token.
      for (const request of [otherApp, otherEnvironment])
        expect(
          apns.received.filter((d) => d.token === request.device.token && d.status === 400),
        ).toHaveLength(1);
      // The configuration itself works, and is not reported failed.
      const next = pushRequest({ tenant: 'apns-only' });
      await requester.request(next);
      expect(await resultOf(next.challenge_id)).toMatchObject({ status: 'sent' });
    });

    it('a poison message goes to the dead-letter topic with its reason, and consumption goes on', async () => {
      await requester.raw('poison-1', '{"challenge_id": "poison-1", "device": ');
      await requester.raw(null, JSON.stringify({ challenge_id: 'poison-2', client_id: 5 }));
      const after = pushRequest({ tenant: 'apns-only' });
      await requester.request(after);
      const letter = await deadLetters.waitFor((m) => m.key === 'poison-1');
      expect(letter.value).toMatchObject({
        reason: 'message value is not valid JSON',
        original_value: '{"challenge_id": "poison-1", "device": ',
      });
      const typed = await deadLetters.waitFor((m) => String(m.value.original_value).includes('poison-2'));
      expect(typed.value.reason).toContain('client_id');
      expect(await resultOf('poison-1')).toMatchObject({
        status: 'rejected',
        reason: expect.stringContaining('invalid_request'),
      });
      expect(await resultOf('poison-2')).toMatchObject({ status: 'rejected' });
      expect(await resultOf(after.challenge_id)).toMatchObject({ status: 'sent' });
    });

    it('dead-letters messages near the broker limit in a size it can take, and consumption goes on', async () => {
      // Binary grows threefold as text, and 100,000 bad values once made a 5 MB reason: either letter
      // was over the broker's 1 MB limit, failed to publish, and held its partition forever.
      const binary = Buffer.alloc(900 * 1024, 0xff);
      await requester.rawBuffer('huge-binary', binary);
      await requester.raw(
        'huge-values',
        JSON.stringify({
          ...pushRequest({ tenant: 'apns-only' }),
          challenge_id: 'huge-values',
          values: Array(100_000).fill('x'),
        }),
      );
      const after = pushRequest({ tenant: 'apns-only' });
      await requester.request(after);
      const binaryLetter = await deadLetters.waitFor((m) => m.key === 'huge-binary', 30_000);
      expect(String(binaryLetter.value.original_value)).toContain(
        `[truncated: ${binary.length} bytes in all]`,
      );
      const valuesLetter = await deadLetters.waitFor((m) => m.key === 'huge-values', 30_000);
      expect(String(valuesLetter.value.reason)).toMatch(/and \d+ more$/);
      expect(await resultOf('huge-values')).toMatchObject({ status: 'rejected' });
      expect(await resultOf(after.challenge_id, 30_000)).toMatchObject({ status: 'sent' });
    });

    it('a second request reusing a challenge id goes to the dead-letter topic: one push, one result', async () => {
      const first = pushRequest({ tenant: 'apns-only' });
      await requester.request(first);
      expect(await resultOf(first.challenge_id)).toMatchObject({ status: 'sent' });
      const reuse = { ...first, device: { provider: 'apns' as const, token: apnsDeviceToken() } };
      await requester.request(reuse);
      const letter = await deadLetters.waitFor((m) => m.key === first.challenge_id);
      expect(letter.value.reason).toContain('duplicate_challenge_id');
      // A later request on any partition has its result: the duplicate did not stop consumption.
      const after = pushRequest({ tenant: 'apns-only' });
      await requester.request(after);
      await resultOf(after.challenge_id);
      expect(results.messages.filter((m) => m.key === first.challenge_id)).toHaveLength(1);
      expect(apns.received.filter((d) => d.token === reuse.device.token)).toHaveLength(0);
    });

    it('a device token of another Firebase project fails its challenge, but does not mark the configuration failed', async () => {
      const { version } = await configure('other-project', { strategy: 'prompt' });
      await applied.waitFor((m) => m.value.tenant === 'other-project' && m.value.version === version);
      // What FCM answers for a token registered under another project's sender id.
      fcm.failNext(1, 403, 'PERMISSION_DENIED');
      const request = fcmPushTo('other-project');
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({
        status: 'failed',
        reason: 'device_token_mismatch',
      });
      const next = fcmPushTo('other-project');
      await requester.request(next);
      expect(await resultOf(next.challenge_id)).toMatchObject({ status: 'sent' });
      const reports = applied.messages.filter((m) => m.value.tenant === 'other-project');
      expect(reports.map((m) => m.value.status)).toEqual(['applied']);
    });

    it('FCM credentials Google refuses fail as config_invalid, and admins see the configuration failed', async () => {
      await configure('broken-sa', { strategy: 'prompt' });
      // A service account the token endpoint does not know: the OAuth2 exchange is refused.
      const { version } = await patch('broken-sa', {
        settings: { fcm: { client_email: 'nobody@proj-broken-sa.iam.gserviceaccount.com' } },
      });
      await applied.waitFor((m) => m.value.tenant === 'broken-sa' && m.value.version === version);
      const request = fcmPushTo('broken-sa');
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({
        status: 'failed',
        reason: 'config_invalid',
        retryable: false,
      });
      // The key parsed, so the configuration was applied; the refusal turns its status to failed.
      expect(await statusOf('broken-sa', (status) => status.state === 'failed')).toMatchObject({
        version,
        state: 'failed',
        error: expect.stringMatching(/^FCM refused the credentials \(.*invalid_grant.*\); replace them/),
      });
    });

    it('a service account FCM does not let send for the configured project: admins are told what to grant', async () => {
      await configure('other-sa-project', { strategy: 'prompt' });
      // The account is trusted for its own project only; the configuration names another.
      const { version } = await patch('other-sa-project', {
        settings: { fcm: { project_id: 'proj-someone-else' } },
      });
      await applied.waitFor((m) => m.value.tenant === 'other-sa-project' && m.value.version === version);
      const request = fcmPushTo('other-sa-project');
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({
        status: 'failed',
        reason: 'config_invalid',
        detail: expect.stringContaining("Permission 'cloudmessaging.messages.create' denied"),
      });
      expect(await statusOf('other-sa-project', (status) => status.state === 'failed')).toMatchObject({
        version,
        error: expect.stringMatching(/Firebase Cloud Messaging API Admin role/),
      });
    });

    it.each([
      [
        "Apple refuses the Firebase project's APNs key (fixed in the Firebase console, not here)",
        'no-apns-key',
        401,
        'UNAUTHENTICATED',
        'THIRD_PARTY_AUTH_ERROR',
        'Auth error from APNS or Web Push Service',
        /upload a valid APNs key in the Firebase console/,
      ],
      [
        'the FCM API is off in the project',
        'api-disabled',
        403,
        'PERMISSION_DENIED',
        'PERMISSION_DENIED',
        'Firebase Cloud Messaging API has not been used in project 123 before or it is disabled.',
        /Firebase Cloud Messaging API Admin role .* enable the FCM API/,
      ],
    ])(
      'when %s, the configuration is failed with what fixes it, not blamed on devices',
      async (_, tenant, status, googleStatus, errorCode, message, remedy) => {
        const { version } = await configure(tenant, { strategy: 'prompt' });
        await applied.waitFor((m) => m.value.tenant === tenant && m.value.version === version);
        fcm.failNext(1, status, googleStatus, { errorCode, message });
        const request = fcmPushTo(tenant);
        await requester.request(request);
        expect(await resultOf(request.challenge_id)).toMatchObject({
          status: 'failed',
          reason: 'config_invalid',
          detail: expect.stringContaining(message),
        });
        expect(await statusOf(tenant, (s) => s.state === 'failed')).toMatchObject({
          version,
          error: expect.stringMatching(remedy),
        });
      },
    );

    describe('when FCM refuses the access token (a plain 401)', () => {
      const refuseTokens = (count: number) =>
        fcm.failNext(count, 401, 'UNAUTHENTICATED', {
          errorCode: 'UNAUTHENTICATED',
          message: 'Request had invalid authentication credentials.',
        });

      it('once (revoked before it expired): a new one is exchanged, the push is sent, the configuration stays applied', async () => {
        const { version } = await configure('token-revoked', { strategy: 'prompt' });
        const warm = fcmPushTo('token-revoked');
        await requester.request(warm);
        expect(await resultOf(warm.challenge_id)).toMatchObject({ status: 'sent' });
        const exchangesBefore = fcm.tokenRequests;
        refuseTokens(1);
        const request = fcmPushTo('token-revoked');
        await requester.request(request);
        const result = await resultOf(request.challenge_id);
        expect(result).toMatchObject({ status: 'sent' });
        expect(result.attempts).toBeGreaterThanOrEqual(2);
        expect(fcm.tokenRequests - exchangesBefore).toBe(1);
        // The push went out under the new token, not the refused one.
        const sends = fcm.received.filter((d) => d.message?.token === request.device.token);
        expect(sends.map((d) => d.status)).toEqual([401, 200]);
        expect(sends[1].authorization).not.toBe(sends[0].authorization);
        expect(await statusOf('token-revoked', () => true)).toMatchObject({ version, state: 'applied' });
      });

      it('again with a new one: the configuration is failed with what fixes it, not blamed on devices', async () => {
        const { version } = await configure('token-refused', { strategy: 'prompt' });
        const exchangesBefore = fcm.tokenRequests;
        refuseTokens(2);
        const request = fcmPushTo('token-refused');
        await requester.request(request);
        expect(await resultOf(request.challenge_id)).toMatchObject({
          status: 'failed',
          reason: 'config_invalid',
          detail: expect.stringContaining('Request had invalid authentication credentials.'),
        });
        // Refused only after a new token was exchanged and refused too.
        expect(fcm.tokenRequests - exchangesBefore).toBe(2);
        expect(await statusOf('token-refused', (s) => s.state === 'failed')).toMatchObject({
          version,
          error: expect.stringMatching(/; replace them with PATCH \/mfa\/push$/),
        });
      });
    });

    it('APNs credentials Apple refuses fail as config_invalid, and admins see it once per version', async () => {
      await configure('broken-key', { strategy: 'prompt' });
      // A key Apple does not know: the peer refuses its provider token.
      await patch('broken-key', { settings: { apns: { key_id: 'UNKNOWN123' } } });
      await applied.waitFor((m) => m.value.tenant === 'broken-key' && m.value.version === 2);
      const request = pushRequest({ tenant: 'broken-key' });
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({
        status: 'failed',
        reason: 'config_invalid',
        retryable: false,
      });
      expect(await statusOf('broken-key', (status) => status.state === 'failed')).toMatchObject({
        version: 2,
        state: 'failed',
        error: expect.stringMatching(/^APNs refused the credentials \(.*InvalidProviderToken\)/),
      });
      // Reported once per version, however many pushes the key fails.
      const again = pushRequest({ tenant: 'broken-key' });
      await requester.request(again);
      await resultOf(again.challenge_id);
      const reports = applied.messages.filter(
        (m) => m.value.tenant === 'broken-key' && m.value.version === 2,
      );
      expect(reports.map((m) => m.value.status)).toEqual(['applied', 'failed']);
    });
  });

  describe('retries', () => {
    beforeAll(async () => {
      await configure('flaky', { strategy: 'prompt' });
    });
    afterEach(() => {
      apns.clearFaults();
      fcm.clearFaults();
    });

    // The SDKs retry a few times on their own; what counts is what the peer saw and the single result.
    it('retries APNs 503 and 429 until it succeeds', async () => {
      apns.failNext(3, 503, 'ServiceUnavailable');
      // The 429 of provider-token churn passes; the per-device one (TooManyRequests) is final, below.
      apns.failNext(3, 429, 'TooManyProviderTokenUpdates');
      const request = pushRequest({ tenant: 'flaky' });
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'sent', retryable: false });
      const statuses = apns.received.filter((d) => d.token === request.device.token).map((d) => d.status);
      expect(statuses).toEqual([503, 503, 503, 429, 429, 429, 200]);
    });

    it("stops at Apple's limit for one device (node-apn has tried again), instead of retrying until expiry", async () => {
      apns.failNext(10, 429, 'TooManyRequests');
      const request = pushRequest({ tenant: 'flaky' });
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({
        status: 'failed',
        reason: 'device_rate_limited',
        detail: '429 TooManyRequests',
        attempts: 1,
      });
      apns.clearFaults();
    });

    it('retries FCM 503 and 429 until it succeeds', async () => {
      fcm.failNext(5, 503, 'UNAVAILABLE');
      fcm.failNext(2, 429, 'RESOURCE_EXHAUSTED', { retryAfterSeconds: 1 });
      const request = fcmPushTo('flaky');
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'sent', provider: 'fcm' });
      const statuses = fcm.received
        .filter((d) => d.message.token === request.device.token)
        .map((d) => d.status);
      expect(statuses.slice(-1)).toEqual([200]);
      expect(statuses.filter((status) => status !== 200)).toEqual([503, 503, 503, 503, 503, 429, 429]);
    });

    it('retries a failing challenge from mfa.push.retrying: the requests behind it in its partition do not wait for it', async () => {
      const failing = pushRequest({
        tenant: 'flaky',
        expires_at: new Date(Date.now() + 60_000).toISOString(),
      });
      apns.failFor(failing.device.token, 500, 'InternalServerError');
      const parkedBefore = await metric(/^mfa_push_parked_total\{provider="apns"\} (\d+)/m);
      const behind = Array.from({ length: 20 }, () => pushRequest({ tenant: 'flaky' }));
      await requester.requestOn(0, failing, ...behind);
      for (const request of behind)
        expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'sent' });
      // Every request of the partition is committed, the failing one too, while it is still retrying.
      expect(await lagOf(0, (lag) => lag === 0)).toBe(0);
      expect(results.messages.some((m) => m.key === failing.challenge_id)).toBe(false);

      apns.clearFaults();
      const result = await resultOf(failing.challenge_id, 20_000);
      expect(result).toMatchObject({ status: 'sent', retryable: false });
      expect(result.attempts).toBeGreaterThan(1);
      expect(apns.delivered().filter((d) => d.token === failing.device.token)).toHaveLength(1);
      // node-apn drops its session on a 500: requests in flight on it may have been parked too.
      expect(await metric(/^mfa_push_parked_total\{provider="apns"\} (\d+)/m)).toBeGreaterThan(parkedBefore);
      // One result each, however it went.
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const { challenge_id } of [failing, ...behind])
        expect([challenge_id, results.messages.filter((m) => m.key === challenge_id).length]).toEqual([
          challenge_id,
          1,
        ]);
    });

    it('retries a push whose OAuth2 token exchange got no answer (resets, 503s), without calling the credentials refused', async () => {
      const { version } = await configure('token-outage', { strategy: 'prompt' });
      const exchangesBefore = fcm.tokenRequests;
      // More than google-auth-library retries on its own: at least one of our attempts fails on it.
      fcm.failTokenExchangesNext(2, 'reset');
      fcm.failTokenExchangesNext(8, 503);
      const request = fcmPushTo('token-outage');
      await requester.request(request);
      const result = await resultOf(request.challenge_id, 30_000);
      expect(result).toMatchObject({ status: 'sent', provider: 'fcm' });
      expect(result.attempts).toBeGreaterThan(1);
      expect(fcm.tokenRequests - exchangesBefore).toBeGreaterThan(10);
      // Nothing told admins to replace credentials that were never refused.
      expect(await statusOf('token-outage', () => true)).toMatchObject({ version, state: 'applied' });
      expect(
        applied.messages.filter((m) => m.value.tenant === 'token-outage').map((m) => m.value.status),
      ).toEqual(['applied']);
    });

    it("counts Android's ttl from the send, not from a slow token exchange before it: the push dies at expires_at", async () => {
      await configure('slow-token', { strategy: 'prompt' });
      fcm.delayTokenExchanges(2000);
      try {
        const expiresAt = Date.now() + 20_000;
        const request = fcmPushTo('slow-token', { expires_at: new Date(expiresAt).toISOString() });
        await requester.request(request);
        expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'sent' });
        const delivery = fcm.delivered().find((d) => d.message.token === request.device.token)!;
        const ttlMs = 1000 * Number(String(delivery.message.android.ttl).replace(/s$/, ''));
        // The request's way from the dispatcher to the peer takes far less than the exchange's 2 s
        // (which stays under the tests' 3 s send timeout).
        expect(delivery.receivedAt + ttlMs).toBeLessThanOrEqual(expiresAt + 1000);
      } finally {
        fcm.delayTokenExchanges(0);
      }
    });

    it("waits for FCM's Retry-After before trying again, though firebase-admin drops the header", async () => {
      fcm.failNext(1, 429, 'RESOURCE_EXHAUSTED', { retryAfterSeconds: 2 });
      const request = fcmPushTo('flaky');
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'sent', attempts: 2 });
      const answers = fcm.received.filter((d) => d.message.token === request.device.token);
      expect(answers.map((d) => d.status)).toEqual([429, 200]);
      expect(answers[1].receivedAt - answers[0].receivedAt).toBeGreaterThanOrEqual(2000);
    });

    it('answers at once when a QUOTA_EXCEEDED without Retry-After (a minute, as Google asks) outlasts the challenge', async () => {
      fcm.failNext(1, 429, 'RESOURCE_EXHAUSTED');
      const request = fcmPushTo('flaky', { expires_at: new Date(Date.now() + 30_000).toISOString() });
      await requester.request(request);
      expect(await resultOf(request.challenge_id, 10_000)).toMatchObject({
        status: 'failed',
        reason: 'provider_throttled',
        retryable: true,
        detail: expect.stringMatching(
          /^messaging\/message-rate-exceeded: .*; no attempt before .*, after expires_at$/,
        ),
        attempts: 1,
      });
      const answers = fcm.received.filter((d) => d.message.token === request.device.token);
      expect(answers.map((d) => d.status)).toEqual([429]);
    });

    it('waits for an SDK call that outlives the send timeout instead of pushing a second time', async () => {
      // FCM answers after 5 s, past the 3 s send timeout.
      fcm.setDelay(5000);
      const request = fcmPushTo('flaky');
      await requester.request(request);
      expect(await resultOf(request.challenge_id, 30_000)).toMatchObject({ status: 'sent', attempts: 2 });
      const statuses = fcm.received
        .filter((d) => d.message.token === request.device.token)
        .map((d) => d.status);
      expect(statuses).toEqual([200]);
    });

    it('sends to FCM once when its Retry-After outlasts the challenge: firebase-admin does not resend it after the expiry', async () => {
      fcm.failNext(1, 503, 'UNAVAILABLE', { retryAfterSeconds: 4 });
      const request = fcmPushTo('flaky', { expires_at: new Date(Date.now() + 3000).toISOString() });
      await requester.request(request);
      expect(await resultOf(request.challenge_id, 10_000)).toMatchObject({
        status: 'failed',
        reason: 'provider_throttled',
        attempts: 1,
      });
      // Past the 4 s firebase-admin would have waited before sending the same body again.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const statuses = fcm.received
        .filter((d) => d.message.token === request.device.token)
        .map((d) => d.status);
      expect(statuses).toEqual([503]);
    });

    it('retries a push whose connection was reset (GOAWAY, stream ended unexpectedly)', async () => {
      apns.resetConnectionsNext(1);
      const request = pushRequest({ tenant: 'flaky' });
      await requester.request(request);
      expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'sent' });
      const statuses = apns.received.filter((d) => d.token === request.device.token).map((d) => d.status);
      expect(statuses).toEqual([0, 200]);
    });

    it('gives up at expiry and reports expired, retryable', async () => {
      apns.failNext(1000, 503, 'ServiceUnavailable');
      const request = pushRequest({ tenant: 'flaky', expires_at: new Date(Date.now() + 2500).toISOString() });
      await requester.request(request);
      const result = await resultOf(request.challenge_id);
      expect(result).toMatchObject({ status: 'expired', retryable: true });
      expect(result.attempts).toBeGreaterThan(1);
    });
  });

  describe('operations', () => {
    it('exposes Prometheus metrics that count pushes, retries, reloads and time provider calls and reloads', async () => {
      const text = await scrape();
      const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
      expect(value(/^mfa_pushes_total\{provider="apns",status="sent",reason=""\} (\d+)/m)).toBeGreaterThan(3);
      expect(
        value(/^mfa_pushes_total\{provider="fcm",status="failed",reason="device_token_invalid"\} (\d+)/m),
      ).toBeGreaterThan(0);
      expect(value(/^mfa_push_retries_total\{provider="apns"\} (\d+)/m)).toBeGreaterThan(0);
      expect(value(/^mfa_config_reloads_total\{state="applied"\} (\d+)/m)).toBeGreaterThan(3);
      expect(
        value(/^mfa_push_end_to_end_seconds_count\{provider="apns",status="sent"\} (\d+)/m),
      ).toBeGreaterThan(3);
      expect(
        value(/^mfa_provider_request_seconds_count\{provider="apns",outcome="ok"\} (\d+)/m),
      ).toBeGreaterThan(3);
      expect(value(/^mfa_config_reload_seconds_count (\d+)/m)).toBeGreaterThan(3);
      expect(text).toContain('mfa_live_configurations');
      // Lag is measured against committed offsets, committed every second: it reaches 0 by then.
      expect(await lagOf(0, (lag) => lag === 0)).toBe(0);
    });
  });

  describe('cost of idle tenants', () => {
    it('opens a session on the first send and closes it when idle; the next send reopens it', async () => {
      await configure('idle', { strategy: 'prompt' });
      const waitForSessions = async (predicate: (open: number) => boolean) => {
        for (let i = 0; i < 100 && !predicate(apns.openSessions); i++)
          await new Promise((r) => setTimeout(r, 100));
        return apns.openSessions;
      };
      // Other tenants' sessions close too (PUSH_IDLE_SESSION_TIMEOUT_MS is 2 s in tests).
      expect(await waitForSessions((open) => open === 0)).toBe(0);
      const first = pushRequest({ tenant: 'idle' });
      await requester.request(first);
      expect(await resultOf(first.challenge_id)).toMatchObject({ status: 'sent' });
      expect(apns.openSessions).toBe(1);
      expect(await waitForSessions((open) => open === 0)).toBe(0);
      const second = pushRequest({ tenant: 'idle' });
      await requester.request(second);
      expect(await resultOf(second.challenge_id)).toMatchObject({ status: 'sent' });
    });

    it("keeps a tenant's FCM access token across idle spells: the next push exchanges no new one", async () => {
      await configure('idle-fcm', { strategy: 'prompt' });
      const send = async (request: PushRequestedEvent) => {
        await requester.request(request);
        expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'sent' });
      };
      const exchangesBefore = fcm.tokenRequests;
      await send(fcmPushTo('idle-fcm'));
      expect(fcm.tokenRequests - exchangesBefore).toBe(1);
      // Its APNs session closing shows the sweep ran, over its FCM client too (idle as long).
      await send(pushRequest({ tenant: 'idle-fcm' }));
      await waitUntil(() => apns.openSessions === 0, 'every APNs session closed by the idle sweep');
      await send(fcmPushTo('idle-fcm'));
      expect(fcm.tokenRequests - exchangesBefore).toBe(1);
    });
  });

  describe('live configuration', () => {
    let firstKeyId: string;
    beforeAll(async () => {
      ({ keyId: firstKeyId } = await configure('rotating', { strategy: 'prompt' }));
    });

    it('applies a new APNs key without restart, losing no push in flight during the swap', async () => {
      apns.setDelay(300);
      const inFlight = Array.from({ length: 5 }, () => pushRequest({ tenant: 'rotating' }));
      await Promise.all(inFlight.map((r) => requester.request(r)));
      const next = tenantCredentials();
      apns.registerKey('NEWKEY0001', TEAM, next.apnsPublicKey);
      const { version } = await patch('rotating', {
        settings: { apns: { key: next.apnsKey, key_id: 'NEWKEY0001' } },
      });
      await applied.waitFor((m) => m.value.tenant === 'rotating' && m.value.version === version);
      apns.setDelay(0);
      for (const request of inFlight)
        expect(await resultOf(request.challenge_id)).toMatchObject({ status: 'sent' });

      const after = pushRequest({ tenant: 'rotating' });
      await requester.request(after);
      expect(await resultOf(after.challenge_id)).toMatchObject({ status: 'sent', config_version: version });
      expect(apns.delivered().find((d) => d.token === after.device.token)!.keyId).toBe('NEWKEY0001');
      expect(firstKeyId).not.toBe('NEWKEY0001');
    });

    it('answers a redelivered configuration event with its report again, so a lost report is not lost for good', async () => {
      const { version } = await patch('rotating', { settings: { enabled_clients: ['web-login', 'kiosk'] } });
      const first = await applied.waitFor(
        (m) => m.value.tenant === 'rotating' && m.value.version === version,
      );
      const event: ConfigChangedEvent = {
        event_id: randomUUID(),
        type: 'mfa.config.changed',
        tenant: 'rotating',
        mfa_type: 'push',
        version,
        change: 'updated',
        occurred_at: new Date().toISOString(),
      };
      const topic = resolveTopicNames(dispatcher.config.kafka).configChanged;
      await requester.raw(configChangedKey('rotating', 'push'), JSON.stringify(event), topic);
      const again = await applied.waitFor(
        (m) => m.value.tenant === 'rotating' && m.value.version === version && m !== first,
      );
      expect(again.value).toMatchObject({ status: 'applied', version });
    });

    it('disabling stops delivery at once, and so does deleting', async () => {
      const { version } = await patch('rotating', { enabled: false });
      await applied.waitFor((m) => m.value.tenant === 'rotating' && m.value.version === version);
      const disabled = pushRequest({ tenant: 'rotating' });
      await requester.request(disabled);
      expect(await resultOf(disabled.challenge_id)).toMatchObject({
        status: 'rejected',
        reason: 'mfa_disabled',
      });

      const token = await api.token(['delete:mfa'], { tenant_id: 'rotating' });
      await api.http().delete('/mfa/push').set('Authorization', `Bearer ${token}`).expect(204);
      await applied.waitFor((m) => m.value.tenant === 'rotating' && m.value.version === version + 1);
      const deleted = pushRequest({ tenant: 'rotating' });
      await requester.request(deleted);
      expect(await resultOf(deleted.challenge_id)).toMatchObject({
        status: 'rejected',
        reason: 'mfa_not_configured',
      });
    });
  });
});
