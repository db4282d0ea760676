import { Logger } from '@nestjs/common';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { loadAppConfig } from '@lib/config';
import { pushDeadLetterSchema, resolveTopicNames, TopicNames, topicPartitions } from '@lib/contracts';
import { tenantCredentials } from './fixtures/keys';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { pushRequest } from './fixtures/push-request.builder';
import { ApnsPeer } from './peers/apns-peer';
import { FcmPeer } from './peers/fcm-peer';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { DispatcherHarness, PushRequester, startDispatcher } from './support/dispatcher.harness';
import { testEnvironment, TestEnv } from './support/test-environment';
import { TopicReader } from './support/topic-reader';

const TEAM = 'TEAM123456';
const BUNDLE = 'com.acme.authenticator';

const kafka = new Kafka({
  clientId: 'test-topic-settings',
  brokers: loadAppConfig(testEnvironment()).kafka.brokers,
  logLevel: logLevel.NOTHING,
});

async function withAdmin<T>(use: (admin: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

/** An app started as `node main.ts` is, until it exits (it is expected to refuse to start). */
function runUntilExit(app: string, env: TestEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'node',
      ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', `apps/${app}/src/main.ts`],
      { env, encoding: 'utf8', timeout: 50_000 },
      (error, _stdout, stderr) => resolve({ code: error ? (error.code as number | null) : 0, stderr }),
    );
  });
}

describe('KAFKA_CREATE_TOPICS=false while the topics are missing', () => {
  const env = testEnvironment({ KAFKA_CREATE_TOPICS: 'false', DISPATCHER_PORT: '0' });
  const topics = resolveTopicNames(loadAppConfig(env).kafka);
  const existing = async () => new Set(await withAdmin((admin) => admin.listTopics()));

  it('the dispatcher refuses to start, naming every missing topic and what to do, and creates none', async () => {
    const run = await runUntilExit('dispatcher', env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Kafka topics missing: ${Object.values(topics).join(', ')}.`);
    expect(run.stderr).toContain('set KAFKA_CREATE_TOPICS=true');
    const present = await existing();
    expect(Object.values(topics).filter((topic) => present.has(topic))).toEqual([]);
  }, 60_000);

  it('the config-api serves, keeps a change in its outbox while warning which topic is missing, and publishes it once the topic exists', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const api = await startConfigApi(env);
    let events: TopicReader | undefined;
    try {
      const token = await api.token(['write:mfa'], { tenant_id: 'acme' });
      await api
        .http()
        .post('/mfa')
        .set('Authorization', `Bearer ${token}`)
        .send(pushConfigBody())
        .expect(201);
      for (let i = 0; i < 200 && !warnedAbout(warn.mock.calls, topics.configChanged); i++)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(warnedAbout(warn.mock.calls, topics.configChanged)).toBe(true);
      expect((await existing()).has(topics.configChanged)).toBe(false);

      // An operator creates it: the change kept in the outbox goes out.
      events = await new TopicReader(api.config, topics.configChanged).start();
      const event = await events.waitFor((m) => m.key === 'acme/push', 40_000);
      expect(event.value).toMatchObject({ tenant: 'acme', version: 1, change: 'created' });
    } finally {
      warn.mockRestore();
      await events?.stop();
      await api.close();
    }
  }, 90_000);
});

function warnedAbout(calls: unknown[][], topic: string): boolean {
  return calls.some(([line]) => String(line).includes(`Kafka topics missing: ${topic}.`));
}

describe('topic names overridden one by one (KAFKA_TOPIC_*)', () => {
  const id = randomUUID().slice(0, 8);
  const overrides: TopicNames = {
    configChanged: `custom-${id}.config-changes`,
    configApplied: `custom-${id}.config-reports`,
    pushRequested: `custom-${id}.push-in`,
    pushResults: `custom-${id}.push-out`,
    pushDeadLetter: `custom-${id}.push-rejects`,
    pushRetrying: `custom-${id}.push-again`,
  };
  const env = testEnvironment({
    KAFKA_TOPIC_CONFIG_CHANGED: overrides.configChanged,
    KAFKA_TOPIC_CONFIG_APPLIED: overrides.configApplied,
    KAFKA_TOPIC_PUSH_REQUESTED: overrides.pushRequested,
    KAFKA_TOPIC_PUSH_RESULTS: overrides.pushResults,
    KAFKA_TOPIC_PUSH_DEAD_LETTER: overrides.pushDeadLetter,
    KAFKA_TOPIC_PUSH_RETRYING: overrides.pushRetrying,
    KAFKA_PUSH_PARTITIONS: '2',
    KAFKA_CONFIG_PARTITIONS: '2',
  });
  let apns: ApnsPeer;
  let fcm: FcmPeer;
  let api: ConfigApiHarness;
  let dispatcher: DispatcherHarness;
  let requester: PushRequester;
  const readers: Partial<Record<keyof TopicNames, TopicReader>> = {};
  const reader = (key: keyof TopicNames) => readers[key]!;

  beforeAll(async () => {
    [apns, fcm] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
    apns.allowTopic(TEAM, BUNDLE);
    api = await startConfigApi(env);
    dispatcher = await startDispatcher(env, { apns, fcm });
    for (const key of ['configChanged', 'configApplied', 'pushResults', 'pushDeadLetter'] as const)
      readers[key] = await new TopicReader(dispatcher.config, overrides[key]).start();
    requester = await new PushRequester(dispatcher.config).connect();
  }, 90_000);

  afterAll(async () => {
    await Promise.allSettled([...Object.values(readers).map((r) => r.stop()), requester?.close()]);
    await dispatcher?.close();
    await api?.close();
    await Promise.allSettled([apns?.stop(), fcm?.stop()]);
  });

  it('resolves every topic to its full name, without the prefix', () => {
    expect(resolveTopicNames(api.config.kafka)).toEqual(overrides);
    expect(resolveTopicNames(dispatcher.config.kafka)).toEqual(overrides);
  });

  it('creates the topics under those names, with the configured partitions, and none under the defaults', async () => {
    const defaults = Object.values(resolveTopicNames({ topicPrefix: dispatcher.config.kafka.topicPrefix }));
    const { present, partitions } = await withAdmin(async (admin) => ({
      present: new Set(await admin.listTopics()),
      partitions: (await admin.fetchTopicMetadata({ topics: Object.values(overrides) })).topics,
    }));
    expect(defaults.filter((topic) => present.has(topic))).toEqual([]);
    const expected = topicPartitions(dispatcher.config.kafka);
    for (const key of Object.keys(overrides) as (keyof TopicNames)[])
      expect([key, partitions.find((t) => t.name === overrides[key])?.partitions.length]).toEqual([
        key,
        expected[key],
      ]);
    expect(expected).toMatchObject({ configChanged: 2, pushRequested: 2, pushDeadLetter: 1 });
  });

  it('carries a configuration change from the API to the dispatcher and its report back to the API', async () => {
    const credentials = tenantCredentials();
    apns.registerKey('KEYOVERRID', TEAM, credentials.apnsPublicKey);
    const body = pushConfigBody({
      settings: {
        strategy: 'prompt',
        apns: {
          bundle_id: BUNDLE,
          key: credentials.apnsKey,
          key_id: 'KEYOVERRID',
          team_id: TEAM,
          production: false,
        },
        fcm: undefined,
      },
    });
    const admin = await api.token(['write:mfa', 'read:mfa'], { tenant_id: 'renamed' });
    const created = await api
      .http()
      .post('/mfa')
      .set('Authorization', `Bearer ${admin}`)
      .send(body)
      .expect(201);

    await reader('configChanged').waitFor(
      (m) => m.key === 'renamed/push' && m.value.version === created.body.version,
    );
    // The dispatcher loaded everything before the change: its report comes from the event it consumed.
    await reader('configApplied').waitFor(
      (m) =>
        m.value.tenant === 'renamed' &&
        m.value.version === created.body.version &&
        m.value.status === 'applied',
    );
    let status: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && status?.state !== 'applied'; i++) {
      if (i) await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await api.http().get('/mfa/push').set('Authorization', `Bearer ${admin}`).expect(200)).body
        .status;
    }
    expect(status).toMatchObject({ version: created.body.version, state: 'applied' });
  }, 60_000);

  it('takes push requests from its request topic, answers on its result topic, dead-letters on its own', async () => {
    const request = pushRequest({ tenant: 'renamed' });
    await requester.request(request);
    const result = await reader('pushResults').waitFor((m) => m.key === request.challenge_id, 30_000);
    expect(result.value).toMatchObject({ status: 'sent', provider: 'apns', tenant: 'renamed' });
    expect(apns.delivered().some((delivery) => delivery.token === request.device.token)).toBe(true);

    await requester.raw('renamed-poison', '{"challenge_id": "renamed-poison", ');
    const letter = await reader('pushDeadLetter').waitFor((m) => m.key === 'renamed-poison', 30_000);
    expect(letter.value).toMatchObject({
      topic: overrides.pushRequested,
      reason: 'message value is not valid JSON',
    });
    // What the dispatcher really writes is what docs/schemas/ publishes.
    const ajv = new Ajv({ allErrors: true, strict: true });
    addFormats(ajv);
    const validate = ajv.compile(pushDeadLetterSchema);
    expect([validate(letter.value), validate.errors]).toEqual([true, null]);
  }, 60_000);
});
