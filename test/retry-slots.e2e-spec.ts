import { fcmDeviceToken, pushRequest } from './fixtures/push-request.builder';
import { ApnsPeer } from './peers/apns-peer';
import { FcmPeer } from './peers/fcm-peer';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { DispatcherStack, PushRequester, startDispatcherStack } from './support/dispatcher.harness';
import { PushConfigAdmin, trustedPushSettings, waitUntil } from './support/push-tenants';
import { testEnvironment } from './support/test-environment';
import type { TopicReader } from './support/topic-reader';

/** With one slot per partition, mfa.push.retrying has 16 (RETRYING_SLOTS_FACTOR) on its one partition. */
const RETRYING_SLOTS = 16;

describe('challenges waiting out a provider (one tenant throttled by FCM)', () => {
  const env = testEnvironment({ KAFKA_PUSH_PARTITIONS: '1' });
  let api: ConfigApiHarness;
  let apns: ApnsPeer;
  let fcm: FcmPeer;
  let stack: DispatcherStack;
  let requester: PushRequester;
  let results: TopicReader;

  beforeAll(async () => {
    [apns, fcm] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
    api = await startConfigApi(env);
    stack = await startDispatcherStack(env, { apns, fcm }, { DISPATCHER_CONCURRENCY_PER_PARTITION: '1' });
    ({ requester, results } = stack);
    const admin = new PushConfigAdmin(api, stack.applied);
    for (const tenant of ['throttled', 'quiet'])
      await admin.create(tenant, trustedPushSettings({ apns, fcm }, tenant));
  });

  afterAll(async () => {
    await stack?.close();
    await api?.close();
    await Promise.allSettled([apns.stop(), fcm.stop()]);
  });

  it("do not hold the retry slots: another tenant's retry goes on while they wait", async () => {
    // More challenges than mfa.push.retrying has slots, each asked by FCM to wait 30 s.
    const throttled = Array.from({ length: RETRYING_SLOTS + 4 }, () =>
      pushRequest({
        tenant: 'throttled',
        device: { provider: 'fcm', token: fcmDeviceToken() },
        expires_at: new Date(Date.now() + 120_000).toISOString(),
      }),
    );
    fcm.failNext(throttled.length, 429, 'RESOURCE_EXHAUSTED', { retryAfterSeconds: 30 });
    await requester.requestOn(0, ...throttled);
    const refused = () => fcm.received.filter((send) => send.status === 429).length;
    await waitUntil(() => refused() === throttled.length, 'all throttled');

    // Its first attempt fails (firebase-admin does not retry a 500): it is parked behind them.
    fcm.failNext(1, 500, 'INTERNAL');
    const quiet = pushRequest({
      tenant: 'quiet',
      device: { provider: 'fcm', token: fcmDeviceToken() },
      expires_at: new Date(Date.now() + 20_000).toISOString(),
    });
    await requester.request(quiet);
    const result = (await results.waitFor((m) => m.key === quiet.challenge_id, 20_000)).value;
    expect(result).toMatchObject({ status: 'sent', attempts: 2 });
    // The throttled ones are still waiting out their Retry-After, none answered yet.
    expect(results.messages.filter((m) => m.value.tenant === 'throttled')).toEqual([]);
    expect(refused()).toBe(throttled.length);
  });
});
