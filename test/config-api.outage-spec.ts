import { execFileSync } from 'node:child_process';
import { resolveTopicNames } from '@lib/contracts';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { TopicReader } from './support/topic-reader';
import { describeStoppingServers } from './support/stopping-servers';

// Stops the real broker, so it runs alone (the "outage" project runs after the others, in band).
const kafkaScript = (command: 'start' | 'stop') =>
  execFileSync('bash', ['scripts/infra/kafka.sh', command], { stdio: 'inherit' });

describeStoppingServers(['kafka'], 'config-api while Kafka is down (real broker stopped and started)', () => {
  let api: ConfigApiHarness;
  let reader: TopicReader | undefined;

  beforeAll(async () => {
    api = await startConfigApi();
  });
  afterAll(async () => {
    kafkaScript('start');
    await reader?.stop();
    await api.close();
  });

  it('still answers, and publishes the events in version order once Kafka is back', async () => {
    const admin = await api.token(['write:mfa', 'update:mfa'], { tenant_id: 'outage' });
    kafkaScript('stop');

    await api.http().post('/mfa').set('Authorization', `Bearer ${admin}`).send(pushConfigBody()).expect(201);
    const patched = await api
      .http()
      .patch('/mfa/push')
      .set('Authorization', `Bearer ${admin}`)
      .send({ enabled: false })
      .expect(200);
    expect(patched.body.version).toBe(2);

    kafkaScript('start');
    reader = await new TopicReader(api.config, resolveTopicNames(api.config.kafka).configChanged).start();
    await reader.waitFor((m) => m.key === 'outage/push' && m.value.version === 2, 45_000);
    const versions = reader.messages.filter((m) => m.key === 'outage/push').map((m) => m.value.version);
    expect(versions).toEqual([1, 2]);
    expect(reader.messages.map((m) => m.value.change)).toEqual(['created', 'updated']);
  });
});
