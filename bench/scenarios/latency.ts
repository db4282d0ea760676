import { PushRequestedEvent, resolveTopicNames } from '@lib/contracts';
import { BenchContext, requestsFor, strategyOf } from '../support/context';
import { LatencySummary, percentileCurve, summarize } from '../support/histogram';
import { createTopic, RequestProducer, TopicWatcher } from '../support/kafka';
import { kafkaLatencyFloor } from './ceilings';

export interface LatencyFigures {
  offeredPerSecond: number;
  /** A bare kafkajs consumer at the same rate, on the same broker: what Kafka alone costs. */
  kafkaFloor: LatencySummary;
  seconds: number;
  produceToPeer: LatencySummary;
  produceToResult: LatencySummary;
  lost: number;
  curve: [number, number][];
}

const TICK_MS = 10;
const WARM_UP_AT_RATE_SECONDS = 5;

/**
 * Scenario 3: a constant offered load (a batch every 10 ms) against a running dispatcher. Latency is
 * the peer's receive time minus the produce time, both read from the same machine's clock.
 */
export async function latencyUnderLoad(
  ctx: BenchContext,
  database: string,
  tenants: string[],
  rates: number[],
  seconds: number,
): Promise<LatencyFigures[]> {
  const scenario = 'latency';
  const topics = resolveTopicNames({ topicPrefix: ctx.topicPrefix(scenario) });
  await createTopic(ctx.kafka, topics.pushRequested, ctx.partitions);
  await createTopic(ctx.kafka, topics.pushResults, ctx.partitions);
  const dispatcher = await ctx.startDispatcher(scenario, database);
  const results = await new TopicWatcher(ctx.kafka, topics.pushResults).start(false);
  const producer = await new RequestProducer(ctx.kafka, topics.pushRequested).connect();
  // Warm-up: sessions opened and tokens exchanged for every tenant, as in a long-running system.
  const warmUp = requestsFor(tenants, tenants.length * 2, ['apns', 'fcm'], strategyOf);
  await producer.send(warmUp);
  await ctx.peers.waitForDelivered(warmUp.length, 60_000);
  const figures: LatencyFigures[] = [];
  let offered = warmUp.length;
  for (const rate of rates) {
    await ctx.peers.clear();
    // A few seconds at the rate first, not measured: the dispatcher's code is optimised by then, as
    // in a system that has been running (the first seconds of a cold process queue requests).
    const atRate = requestsFor(
      tenants,
      Math.round(rate * Math.min(WARM_UP_AT_RATE_SECONDS, seconds / 2)),
      ['apns', 'fcm'],
      strategyOf,
    );
    await offerAtRate(producer, atRate, rate);
    await ctx.peers.waitForDelivered(atRate.length, 120_000);
    await ctx.peers.clear();
    offered += atRate.length;
    const total = Math.round(rate * seconds);
    const requests = requestsFor(tenants, total, ['apns', 'fcm'], strategyOf);
    await offerAtRate(producer, requests, rate);
    await ctx.peers.waitForDelivered(total, 120_000);
    offered += total;
    await results.waitForCount(offered, 60_000);
    const arrivals = await ctx.peers.arrivals();
    const toPeer: number[] = [];
    for (const [challengeId, at] of [...arrivals.apns, ...arrivals.fcm]) {
      const producedAt = producer.producedAt.get(challengeId);
      if (producedAt !== undefined) toPeer.push(at - producedAt);
    }
    const toResult = requests
      .map((r) => (results.arrivedAt.get(r.challenge_id) ?? NaN) - producer.producedAt.get(r.challenge_id)!)
      .filter((value) => !isNaN(value));
    const floorTopic = `${ctx.topicPrefix(scenario)}floor-${rate}`;
    await createTopic(ctx.kafka, floorTopic, ctx.partitions);
    const kafkaFloor = summarize(await kafkaLatencyFloor(ctx.kafka, floorTopic, rate, Math.min(seconds, 10)));
    figures.push({
      offeredPerSecond: rate,
      kafkaFloor,
      seconds,
      produceToPeer: summarize(toPeer),
      produceToResult: summarize(toResult),
      lost: total - toPeer.length,
      curve: percentileCurve(toPeer),
    });
  }
  await producer.close();
  await results.stop();
  await dispatcher.stop();
  return figures;
}

/** Produces the requests at `rate` per second, a batch every tick. */
async function offerAtRate(
  producer: RequestProducer,
  requests: PushRequestedEvent[],
  rate: number,
): Promise<void> {
  const perTick = (rate * TICK_MS) / 1000;
  const started = Date.now();
  let sent = 0;
  const sends: Promise<void>[] = [];
  for (let tick = 1; sent < requests.length; tick++) {
    const due = Math.min(requests.length, Math.round(tick * perTick));
    sends.push(producer.send(requests.slice(sent, due)));
    sent = due;
    const wait = started + tick * TICK_MS - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  await Promise.all(sends);
}
