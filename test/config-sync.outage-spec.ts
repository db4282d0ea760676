import { execFileSync } from 'node:child_process';
import { resolveTopicNames } from '@lib/contracts';
import { LiveClientRegistry } from '../apps/dispatcher/src/config-sync/live-client-registry';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { ApnsPeer } from './peers/apns-peer';
import { FcmPeer } from './peers/fcm-peer';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { DispatcherHarness, startDispatcher } from './support/dispatcher.harness';
import { testEnvironment } from './support/test-environment';
import { TopicReader } from './support/topic-reader';
import { describeStoppingServers } from './support/stopping-servers';

// Stops the real broker, so it runs alone (the "serial" project).
const kafkaScript = (command: 'start' | 'stop') =>
  execFileSync('bash', ['scripts/infra/kafka.sh', command], { stdio: 'inherit' });

describeStoppingServers(
  ['kafka'],
  'dispatcher after a broker restart (real broker stopped and started)',
  () => {
    const env = testEnvironment();
    let api: ConfigApiHarness | undefined;
    let apns: ApnsPeer;
    let fcm: FcmPeer;
    let dispatcher: DispatcherHarness;
    let applied: TopicReader | undefined;

    beforeAll(async () => {
      [apns, fcm] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
      api = await startConfigApi(env);
    });
    afterAll(async () => {
      kafkaScript('start');
      await applied?.stop();
      await dispatcher?.close();
      await api?.close();
      await Promise.allSettled([apns.stop(), fcm.stop()]);
    });

    it('applies and reports a change whose event it never got, as soon as it joins its group again', async () => {
      const token = await api!.token(['write:mfa', 'update:mfa'], { tenant_id: 'missed' });
      await api!
        .http()
        .post('/mfa')
        .set('Authorization', `Bearer ${token}`)
        .send(pushConfigBody())
        .expect(201);
      // Loaded from the store at start: its config group has committed no offset yet.
      dispatcher = await startDispatcher(env, { apns, fcm });
      const registry = dispatcher.app.get(LiveClientRegistry);
      expect(registry.get('missed')?.version).toBe(1);

      kafkaScript('stop');
      await api!
        .http()
        .patch('/mfa/push')
        .set('Authorization', `Bearer ${token}`)
        .send({ settings: { enabled_clients: ['after-restart'] } })
        .expect(200);
      // The API leaves with the change's event unpublished: only the store knows about version 2.
      await api!.close();
      api = undefined;
      kafkaScript('start');

      applied = await new TopicReader(
        dispatcher.config,
        resolveTopicNames(dispatcher.config.kafka).configApplied,
      ).start();
      const report = await applied.waitFor((m) => m.key === 'missed/push' && m.value.version === 2, 120_000);
      expect(report.value.status).toBe('applied');
      expect(registry.get('missed')?.config.settings.enabled_clients).toEqual(['after-restart']);
      // A broker restart (stop, start, its group coordinator loading) takes most of a minute here.
    }, 180_000);
  },
);
