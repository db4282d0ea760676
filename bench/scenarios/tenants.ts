import { resolveTopicNames } from '@lib/contracts';
import { BenchContext, requestsFor, strategyOf } from '../support/context';
import { round } from '../support/histogram';
import { createTopic, RequestProducer } from '../support/kafka';
import { seedTenants } from '../support/tenants';

export interface TenantFigures {
  tenants: number;
  seedSeconds: number;
  startToReadyMs: number;
  rssIdleMiB: number;
  activeTenants: number;
  rssActiveMiB: number;
  rssAfterIdleTimeoutMiB: number;
  openSessionsAfterIdleTimeout: number;
}

/** Scenario 5: what many tenants cost: start-up, idle memory, memory with active sessions, and after. */
export async function manyTenants(ctx: BenchContext, count: number, active: number): Promise<TenantFigures> {
  const scenario = 'tenants';
  const database = ctx.database('tenants');
  const tenants = Array.from({ length: count }, (_, i) => `tn${i}`);
  const seeded = Date.now();
  await seedTenants(database, ctx.encryptionKeys, ctx.credentials, tenants, strategyOf);
  const seedSeconds = (Date.now() - seeded) / 1000;
  await ctx.credentials.trust(ctx.peers, tenants.slice(0, active));
  const topics = resolveTopicNames({ topicPrefix: ctx.topicPrefix(scenario) });
  await createTopic(ctx.kafka, topics.pushRequested, ctx.partitions);
  const idleTimeoutMs = 5000;
  const dispatcher = await ctx.startDispatcher(scenario, database, {
    PUSH_IDLE_SESSION_TIMEOUT_MS: String(idleTimeoutMs),
  });
  const startToReadyMs = Date.now() - dispatcher.startedAt;
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const rssIdleMiB = dispatcher.rssMiB();

  await ctx.peers.clear();
  const producer = await new RequestProducer(ctx.kafka, topics.pushRequested).connect();
  await producer.sendAll(requestsFor(tenants.slice(0, active), active, ['apns', 'fcm'], strategyOf));
  await producer.close();
  await ctx.peers.waitForDelivered(active, 120_000);
  const rssActiveMiB = dispatcher.rssMiB();
  // Twice the timeout: the sweep runs every half timeout.
  await new Promise((resolve) => setTimeout(resolve, idleTimeoutMs * 2 + 1000));
  const rssAfterIdleTimeoutMiB = dispatcher.rssMiB();
  const { sessions } = await ctx.peers.counts();
  await dispatcher.stop();
  return {
    tenants: count,
    seedSeconds: round(seedSeconds),
    startToReadyMs,
    rssIdleMiB: Math.round(rssIdleMiB),
    activeTenants: active,
    rssActiveMiB: Math.round(rssActiveMiB),
    rssAfterIdleTimeoutMiB: Math.round(rssAfterIdleTimeoutMiB),
    openSessionsAfterIdleTimeout: sessions,
  };
}
