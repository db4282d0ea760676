import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { OperationsServer } from '../apps/dispatcher/src/health/operations.server';
import { ApnsPeer } from './peers/apns-peer';
import { FcmPeer } from './peers/fcm-peer';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { DispatcherHarness, startDispatcher } from './support/dispatcher.harness';
import { testEnvironment } from './support/test-environment';
import { describeStoppingServers } from './support/stopping-servers';

// Stops the real broker and database, so it runs alone (the "serial" project).
const infra = (server: 'kafka' | 'mongo', command: 'start' | 'stop') =>
  execFileSync('bash', [`scripts/infra/${server}.sh`, command], { stdio: 'inherit' });

describeStoppingServers(
  ['kafka', 'mongo'],
  'readiness follows the real servers, and the API answers 503 without its database',
  () => {
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
    const checksWhileRed = async (probe: () => request.Test) => (await probe().expect(503)).body.checks;
    /** Both apps green again (within 15 s) once the stopped server is back. */
    async function bothGreenAgain(): Promise<void> {
      for (const probe of [apiReady, dispatcherHealth]) {
        for (let i = 0; i < 30 && (await probe()).status !== 200; i++)
          await new Promise((r) => setTimeout(r, 500));
        await probe().expect(200);
      }
    }

    it('is ready with everything up, including the dispatcher’s configurations', async () => {
      expect((await apiReady().expect(200)).body).toEqual({
        ready: true,
        checks: { mongo: 'up', kafka: 'up' },
      });
      expect((await dispatcherHealth().expect(200)).body.checks).toEqual({
        mongo: 'up',
        kafka: 'up',
        configs: 'up',
        started: 'up',
      });
    });

    it('while the broker is stopped the dispatcher goes red naming Kafka, and the API stays ready (its writes wait in the outbox) but names it', async () => {
      infra('kafka', 'stop');
      try {
        expect(await checksWhileRed(dispatcherHealth)).toEqual({
          mongo: 'up',
          kafka: 'down',
          configs: 'up',
          started: 'up',
        });
        // The API's own probe, taken while the dispatcher's is red: Kafka is down, the API is not.
        const res = await apiReady().expect(200);
        expect(res.body).toEqual({ ready: true, checks: { mongo: 'up', kafka: 'down' } });
      } finally {
        infra('kafka', 'start');
      }
      await bothGreenAgain();
    });

    it('both apps go red naming the database, and the API answers 503 with a clear message, never a 500 or a hang', async () => {
      const token = await api.token(['read:mfa'], { tenant_id: 'acme' });
      infra('mongo', 'stop');
      try {
        expect(await checksWhileRed(apiReady)).toEqual({ mongo: 'down', kafka: 'up' });
        expect(await checksWhileRed(dispatcherHealth)).toEqual({
          mongo: 'down',
          kafka: 'up',
          configs: 'up',
          started: 'up',
        });
        const started = Date.now();
        const res = await api.http().get('/mfa/push').set('Authorization', `Bearer ${token}`).expect(503);
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(res.body).toMatchObject({ status: 503, error: 'service_unavailable' });
        expect(res.headers['retry-after']).toBe('5');
      } finally {
        infra('mongo', 'start');
      }
      await bothGreenAgain();
    });
  },
);
