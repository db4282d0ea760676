import { resolveTopicNames, TopicNames } from '@lib/contracts';
import { strategyOf } from '../../bench/support/context';
import { createTopic } from '../../bench/support/kafka';
import { seedTenants } from '../../bench/support/tenants';
import type { ChaosContext } from './chaos-context';

export interface PreparedScenario {
  database: string;
  tenants: string[];
  topics: TopicNames;
}

/**
 * A scenario's own database with `tenantCount` configured tenants (trusted by the peers), and its own
 * push request and result topics, created before any app starts.
 */
export async function prepareScenario(
  ctx: ChaosContext,
  scenario: string,
  tenantCount = 10,
): Promise<PreparedScenario> {
  const database = ctx.database(scenario);
  // Each scenario has its own database, so tenants may share names (and credentials) across scenarios.
  const tenants = Array.from({ length: tenantCount }, (_, i) => `t${i}`);
  await seedTenants(database, ctx.encryptionKeys, ctx.credentials, tenants, strategyOf);
  await ctx.credentials.trust(ctx.peers, tenants);
  const topics = resolveTopicNames({ topicPrefix: ctx.topicPrefix(scenario) });
  await createTopic(ctx.kafka, topics.pushRequested, ctx.partitions);
  await createTopic(ctx.kafka, topics.pushResults, ctx.partitions);
  await ctx.peers.clear();
  return { database, tenants, topics };
}
