import mongoose, { Connection } from 'mongoose';
import { OperationsServer } from '../apps/dispatcher/src/health/operations.server';
import type { LiveClientRegistry } from '../apps/dispatcher/src/config-sync/live-client-registry';
import { DispatcherMetrics } from '../apps/dispatcher/src/metrics/dispatcher-metrics';
import { testAppConfig } from './support/test-environment';

// Push requests taken before every configuration is loaded would be refused as not configured: an
// orchestrator must see the dispatcher as not ready until then (Kafka and the store real, the load held back).
describe('dispatcher readiness before its configurations are loaded', () => {
  const config = testAppConfig({ DISPATCHER_PORT: '0' });
  let loaded!: () => void;
  const registry = { ready: new Promise<void>((resolve) => (loaded = resolve)) } as LiveClientRegistry;
  let store: Connection;
  let server: OperationsServer;
  const ready = () => fetch(`http://127.0.0.1:${server.port}/health/ready`);

  beforeAll(async () => {
    store = await mongoose.createConnection(config.mongodbUri).asPromise();
    server = new OperationsServer(config, store, registry, new DispatcherMetrics());
    await server.onApplicationBootstrap();
  });
  afterAll(async () => {
    await server.onApplicationShutdown();
    await store.close();
  });

  it('is red naming the configurations until they are loaded, and until every part started, then green', async () => {
    const before = await ready();
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({
      ready: false,
      checks: { mongo: 'up', kafka: 'up', configs: 'down', started: 'down' },
    });
    loaded();
    await registry.ready;
    // Loaded, but the consumers that come after the load may still fail the start.
    const loadedOnly = await ready();
    expect(loadedOnly.status).toBe(503);
    expect(await loadedOnly.json()).toMatchObject({ checks: { configs: 'up', started: 'down' } });
    server.markStarted();
    const after = await ready();
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual({
      ready: true,
      checks: { mongo: 'up', kafka: 'up', configs: 'up', started: 'up' },
    });
  });
});
