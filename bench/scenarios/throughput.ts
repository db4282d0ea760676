import { resolveTopicNames } from '@lib/contracts';
import { BenchContext, requestsFor, strategyOf } from '../support/context';
import { round } from '../support/histogram';
import { createTopic, RequestProducer, TopicWatcher } from '../support/kafka';
import { apnsCeiling, fcmCeiling, kafkaDrainCeiling } from './ceilings';

export interface DrainFigures {
  path: string;
  requests: number;
  pushesPerSecond: number;
  resultsPerSecond: number;
  cpuSecondsPer1000: number;
  delivered: number;
  results: number;
  notSent: number;
}

/** When the drain ran: from the dispatcher's start to its first and last push (epoch ms). */
export interface DrainTimes {
  dispatcherStartedAt: number;
  firstPushAt: number;
  lastPushAt: number;
}

/**
 * Scenario 1: the requests are on mfa.push.requested before the dispatcher starts; it drains them.
 * Pushes/s counts from the first to the last push the peers received (start-up excluded).
 * `nodeArgs` go to the dispatcher's node (the profiled pass), under a scenario name of its own.
 */
export async function drain(
  ctx: BenchContext,
  database: string,
  tenants: string[],
  path: 'mixed' | 'apns' | 'fcm',
  count: number,
  { nodeArgs = [], scenario = `tp-${path}` }: { nodeArgs?: string[]; scenario?: string } = {},
): Promise<DrainFigures & { topic: string; times: DrainTimes }> {
  const topics = resolveTopicNames({ topicPrefix: ctx.topicPrefix(scenario) });
  await createTopic(ctx.kafka, topics.pushRequested, ctx.partitions);
  const providers: ('apns' | 'fcm')[] = path === 'mixed' ? ['apns', 'fcm'] : [path];
  const producer = await new RequestProducer(ctx.kafka, topics.pushRequested).connect();
  await producer.sendAll(requestsFor(tenants, count, providers, strategyOf));
  await producer.close();
  await ctx.peers.clear();
  await createTopic(ctx.kafka, topics.pushResults, ctx.partitions).catch(() => undefined);
  const results = await new TopicWatcher(ctx.kafka, topics.pushResults).start();

  const dispatcher = await ctx.startDispatcher(scenario, database, {}, nodeArgs);
  // Start-up (Nest, loading configurations) is not part of the cost per push.
  const cpuAtReady = dispatcher.cpuSeconds();
  await ctx.peers.waitForDelivered(count, 15 * 60_000);
  await results.waitForCount(count, 60_000);
  const cpu = dispatcher.cpuSeconds() - cpuAtReady;
  await dispatcher.stop();
  await results.stop();

  const arrivals = await ctx.peers.arrivals();
  const times = [...arrivals.apns, ...arrivals.fcm].map(([, at]) => at);
  const resultTimes = [...results.arrivedAt.values()];
  const span = (values: number[]) => {
    const [low, high] = bounds(values);
    return Math.max(0.001, (high - low) / 1000);
  };
  const [firstPushAt, lastPushAt] = bounds(times);
  return {
    path,
    topic: topics.pushRequested,
    requests: count,
    delivered: times.length,
    results: results.arrivedAt.size,
    notSent: [...results.statuses.values()].filter((status) => status !== 'sent').length,
    pushesPerSecond: Math.round(times.length / span(times)),
    resultsPerSecond: Math.round(resultTimes.length / span(resultTimes)),
    cpuSecondsPer1000: round((cpu / count) * 1000, 2),
    times: { dispatcherStartedAt: dispatcher.startedAt, firstPushAt, lastPushAt },
  };
}

/** Lowest and highest, by a loop: Math.min(...values) with 100,000 arguments is near V8's limit. */
function bounds(values: number[]): [number, number] {
  let low = Infinity;
  let high = -Infinity;
  for (const value of values) {
    low = Math.min(low, value);
    high = Math.max(high, value);
  }
  return [low, high];
}

export interface CeilingFigures {
  apnsHttp2PerSecond: number;
  fcmHttpsPerSecond: number;
  kafkaDrainPerSecond: number;
}

/** Scenario 2: what the same machine does without the dispatcher, measured in the same run. */
export async function ceilings(
  ctx: BenchContext,
  tenant: string,
  topic: string,
  count: number,
): Promise<CeilingFigures> {
  const { credentials, endpoints } = ctx;
  const apns = await apnsCeiling(
    endpoints.apnsEndpoint,
    endpoints.caPem,
    credentials.apns,
    credentials.keyId(tenant),
    credentials.teamId(tenant),
    count,
  );
  const fcm = await fcmCeiling(
    endpoints.fcmUrl,
    endpoints.caPem,
    credentials.clientEmail(tenant),
    credentials.fcm.export({ type: 'pkcs8', format: 'pem' }).toString(),
    credentials.projectId(tenant),
    count,
  );
  const kafka = await kafkaDrainCeiling(ctx.kafka, topic, count);
  await ctx.peers.clear();
  return {
    apnsHttp2PerSecond: Math.round(apns),
    fcmHttpsPerSecond: Math.round(fcm),
    kafkaDrainPerSecond: Math.round(kafka),
  };
}
