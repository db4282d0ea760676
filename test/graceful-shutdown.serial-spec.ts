import { ChildProcess, spawn } from 'node:child_process';
import { resolveTopicNames } from '@lib/contracts';
import { tenantCredentials } from './fixtures/keys';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { pushRequest } from './fixtures/push-request.builder';
import { ApnsPeer } from './peers/apns-peer';
import { FcmPeer } from './peers/fcm-peer';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { DispatcherHarness, PushRequester, startDispatcher } from './support/dispatcher.harness';
import { testEnvironment } from './support/test-environment';
import { TopicReader } from './support/topic-reader';

const TEAM = 'TEAMSTOP01';

// A real dispatcher process gets SIGTERM mid-stream; a second one takes over what it did not finish.
describe('graceful shutdown of the dispatcher', () => {
  const env = testEnvironment();
  let api: ConfigApiHarness;
  let apns: ApnsPeer;
  let fcm: FcmPeer;
  let successor: DispatcherHarness | undefined;
  let results: TopicReader;
  let applied: TopicReader;
  let requester: PushRequester;
  let first: ChildProcess;

  beforeAll(async () => {
    [apns, fcm] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
    api = await startConfigApi(env);
    const topics = resolveTopicNames(api.config.kafka);
    [results, applied] = await Promise.all([
      new TopicReader(api.config, topics.pushResults).start(),
      new TopicReader(api.config, topics.configApplied).start(),
    ]);
    requester = await new PushRequester(api.config).connect();
  });
  afterAll(async () => {
    first?.kill('SIGKILL');
    await Promise.allSettled([results.stop(), applied.stop(), requester.close()]);
    await successor?.close();
    await api.close();
    await Promise.allSettled([apns.stop(), fcm.stop()]);
  });

  it('finishes in-flight challenges, exits 0, and leaves the rest to the next replica: none lost, none twice', async () => {
    first = spawn(
      'node',
      [
        '-r',
        'ts-node/register/transpile-only',
        '-r',
        'tsconfig-paths/register',
        'apps/dispatcher/src/main.ts',
      ],
      {
        env: {
          ...env,
          NODE_OPTIONS: '',
          APNS_ENDPOINT: `${apns.host}:${apns.port}`,
          FCM_ENDPOINT: fcm.url,
          PUSH_SANDBOX_CA_FILE: apns.caFile,
          DISPATCHER_PORT: '3311',
          DISPATCHER_REPLICA_ID: 'first',
          // Few in hand at once, so that SIGTERM finds some requests not yet started.
          DISPATCHER_CONCURRENCY_PER_PARTITION: '2',
        } as NodeJS.ProcessEnv,
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const exited = new Promise<number | null>((resolve) => first.on('exit', (code) => resolve(code)));
    // Ready means it joined its groups and loaded the (empty) configuration: later changes arrive as events.
    for (let i = 0; i < 300; i++) {
      const ready = await fetch('http://127.0.0.1:3311/health/ready').then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const credentials = tenantCredentials();
    apns.registerKey('STOPKEY001', TEAM, credentials.apnsPublicKey);
    const token = await api.token(['write:mfa'], { tenant_id: 'stopping' });
    const body = pushConfigBody({
      settings: {
        fcm: undefined,
        apns: { bundle_id: 'com.acme.stop', key: credentials.apnsKey, key_id: 'STOPKEY001', team_id: TEAM },
      },
    });
    await api.http().post('/mfa').set('Authorization', `Bearer ${token}`).send(body).expect(201);
    await applied.waitFor((m) => m.value.tenant === 'stopping' && m.value.replica === 'first', 60_000);

    apns.setDelay(400);
    const requests = Array.from({ length: 30 }, () => pushRequest({ tenant: 'stopping' }));
    await Promise.all(requests.map((request) => requester.request(request)));
    await apns.waitForDeliveries(1, 30_000).catch(() => undefined);
    for (let i = 0; i < 100 && apns.received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const stoppedAt = Date.now();
    first.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(25_000);
    const handledByFirst = results.messages.length;

    apns.setDelay(0);
    successor = await startDispatcher(env, { apns, fcm });
    for (const request of requests) await results.waitFor((m) => m.key === request.challenge_id, 30_000);

    const perChallenge = new Map<string, number>();
    for (const message of results.messages)
      perChallenge.set(message.key, (perChallenge.get(message.key) ?? 0) + 1);
    expect(requests.filter((request) => perChallenge.get(request.challenge_id) !== 1)).toEqual([]);
    expect(results.messages.every((message) => message.value.status === 'sent')).toBe(true);
    // The first replica did part of the work; the successor did the rest.
    expect(handledByFirst).toBeGreaterThan(0);
    expect(handledByFirst).toBeLessThan(requests.length);
  }, 120_000);
});
