import { Kafka, logLevel } from 'kafkajs';
import { resolveTopicNames } from '@lib/contracts';
import { DispatcherMetrics } from '../apps/dispatcher/src/metrics/dispatcher-metrics';
import { tenantCredentials } from './fixtures/keys';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { pushRequest } from './fixtures/push-request.builder';
import { ApnsPeer } from './peers/apns-peer';
import { FcmPeer } from './peers/fcm-peer';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { DispatcherHarness, PushRequester, startDispatcher } from './support/dispatcher.harness';
import { testEnvironment } from './support/test-environment';
import { TopicReader, topicSize } from './support/topic-reader';

const TEAM = 'TEAM654321';
const BUNDLE = 'com.acme.replicas';

describe('two dispatcher replicas', () => {
  const env = testEnvironment();
  let api: ConfigApiHarness;
  let apns: ApnsPeer;
  let fcm: FcmPeer;
  let replicas: DispatcherHarness[];
  let requester: PushRequester;
  let results: TopicReader;
  let applied: TopicReader;

  beforeAll(async () => {
    [apns, fcm] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
    api = await startConfigApi(env);
    replicas = await Promise.all([startDispatcher(env, { apns, fcm }), startDispatcher(env, { apns, fcm })]);
    const topics = resolveTopicNames(replicas[0].config.kafka);
    [results, applied] = await Promise.all([
      new TopicReader(replicas[0].config, topics.pushResults).start(),
      new TopicReader(replicas[0].config, topics.configApplied).start(),
    ]);
    requester = await new PushRequester(replicas[0].config).connect();
  });

  afterAll(async () => {
    await Promise.allSettled([results.stop(), applied.stop(), requester.close()]);
    await Promise.allSettled(replicas.map((replica) => replica.close()));
    await api.close();
    await Promise.allSettled([apns.stop(), fcm.stop()]);
  });

  it('both apply every configuration change, and each push request is delivered once', async () => {
    const credentials = tenantCredentials();
    apns.registerKey('REPLICA001', TEAM, credentials.apnsPublicKey);
    const token = await api.token(['write:mfa'], { tenant_id: 'shared' });
    const body = pushConfigBody({
      settings: {
        fcm: undefined,
        apns: { bundle_id: BUNDLE, key: credentials.apnsKey, key_id: 'REPLICA001', team_id: TEAM },
      },
    });
    await api.http().post('/mfa').set('Authorization', `Bearer ${token}`).send(body).expect(201);
    for (const replica of replicas) {
      await applied.waitFor(
        (m) => m.value.tenant === 'shared' && m.value.replica === replica.config.dispatcher.replicaId,
      );
    }

    const requests = Array.from({ length: 40 }, () => pushRequest({ tenant: 'shared' }));
    await Promise.all(requests.map((request) => requester.request(request)));
    for (const request of requests)
      expect((await results.waitFor((m) => m.key === request.challenge_id)).value.status).toBe('sent');

    const delivered = apns.delivered().map((delivery) => delivery.token);
    expect(delivered).toHaveLength(requests.length);
    expect(new Set(delivered).size).toBe(requests.length);
    const perChallenge = new Map<string, number>();
    for (const message of results.messages)
      perChallenge.set(message.key, (perChallenge.get(message.key) ?? 0) + 1);
    expect([...perChallenge.values()].every((count) => count === 1)).toBe(true);
  });

  it('a replica that gets requests again after they were answered (a crash, a rebalance) pushes and answers none twice', async () => {
    const answered = results.messages.length;
    const delivered = apns.delivered().length;
    await Promise.all(replicas.map((replica) => replica.close()));
    // What a crash before the offset commit does: the group reads the topic again from the start.
    const { kafka: settings, dispatcher: dispatcherSettings } = replicas[0].config;
    const kafka = new Kafka({ brokers: settings.brokers, logLevel: logLevel.NOTHING });
    const topic = resolveTopicNames(settings).pushRequested;
    const admin = kafka.admin();
    await admin.connect();
    await admin.resetOffsets({
      groupId: `${settings.topicPrefix}${dispatcherSettings.consumerGroup}`,
      topic,
      earliest: true,
    });
    await admin.disconnect();
    const replayed = await topicSize(kafka, topic);

    const successor = await startDispatcher(env, { apns, fcm });
    replicas = [successor];
    const metrics = successor.app.get(DispatcherMetrics);
    const redeliveries = async () => (await metrics.redeliveries.get()).values[0]?.value ?? 0;
    const deadline = Date.now() + 30_000;
    while ((await redeliveries()) < replayed && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(await redeliveries()).toBe(replayed);
    const fresh = pushRequest({ tenant: 'shared' });
    await requester.request(fresh);
    expect((await results.waitFor((m) => m.key === fresh.challenge_id)).value.status).toBe('sent');
    expect(results.messages).toHaveLength(answered + 1);
    expect(apns.delivered()).toHaveLength(delivered + 1);
  });
});
