import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { OperationsServer } from '../apps/dispatcher/src/health/operations.server';
import { ApnsPeer } from './peers/apns-peer';
import { FcmPeer } from './peers/fcm-peer';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { DispatcherHarness, startDispatcher } from './support/dispatcher.harness';
import { testEnvironment } from './support/test-environment';

// Stops the real broker and database, so it runs alone (the "serial" project).
const infra = (server: 'kafka' | 'mongo', command: 'start' | 'stop') =>
  execFileSync('bash', [`scripts/infra/${server}.sh`, command], { stdio: 'inherit' });

describe('readiness follows the real servers, and the API answers 503 without its database', () => {
  const env = testEnvironment();
  let api: ConfigApiHarness;
  let apns: ApnsPeer;
  let fcm: FcmPeer;
  let dispatcher: DispatcherHarness;
  let dispatcherHealth: () => request.Test;

  beforeAll(async () => {
    [apns, fcm] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
    api = await startConfigApi(env);
    dispatcher = await startDispatcher(env, { apns, fcm });
    const port = dispatcher.app.get(OperationsServer).port;
    dispatcherHealth = () => request(`http://127.0.0.1:${port}`).get('/health/ready');
  });
  afterAll(async () => {
    infra('kafka', 'start');
    infra('mongo', 'start');
    await dispatcher.close();
    await api.close();
    await Promise.allSettled([apns.stop(), fcm.stop()]);
  });

  const apiReady = () => api.http().get('/health/ready');

  it('is ready with everything up, including the dispatcher’s configurations', async () => {
    expect((await apiReady().expect(200)).body).toEqual({
      ready: true,
      checks: { mongo: 'up', kafka: 'up' },
    });
    expect((await dispatcherHealth().expect(200)).body.checks).toEqual({
      mongo: 'up',
      kafka: 'up',
      configs: 'up',
    });
  });

  it('names Kafka while the broker is stopped: the dispatcher goes red, the API (with its outbox) stays ready', async () => {
    infra('kafka', 'stop');
    expect((await apiReady().expect(200)).body.checks).toEqual({ mongo: 'up', kafka: 'down' });
    expect((await dispatcherHealth().expect(503)).body.checks.kafka).toBe('down');
    infra('kafka', 'start');
    for (let i = 0; i < 30 && (await dispatcherHealth()).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 500));
    await dispatcherHealth().expect(200);
    for (let i = 0; i < 30 && (await apiReady()).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 500));
    await apiReady().expect(200);
  });

  it('goes red naming the database, and the API answers 503 with a clear message, never a 500 or a hang', async () => {
    const token = await api.token(['read:mfa']);
    infra('mongo', 'stop');
    try {
      expect((await apiReady().expect(503)).body.checks).toEqual({ mongo: 'down', kafka: 'up' });
      // The dispatcher keeps sending with the clients it holds: it reports the database, stays ready.
      expect((await dispatcherHealth().expect(200)).body.checks.mongo).toBe('down');
      const started = Date.now();
      const res = await api.http().get('/mfa/push').set('Authorization', `Bearer ${token}`).expect(503);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(res.body).toMatchObject({ status: 503, error: 'service_unavailable' });
      expect(res.headers['retry-after']).toBe('5');
    } finally {
      infra('mongo', 'start');
    }
    for (let i = 0; i < 30 && (await apiReady()).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 500));
    await apiReady().expect(200);
  });
});
