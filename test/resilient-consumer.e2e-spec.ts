import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { ensureTopics, ResilientConsumer } from '@lib/kafka';
import { testAppConfig } from './support/test-environment';
import { committedOffset } from './support/topic-reader';

// Several messages of one partition at once, yet offsets committed in order: a message that fails
// is redelivered, and so is every message after it, never skipped.
describe('ResilientConsumer with concurrency per partition (real Kafka)', () => {
  const config = testAppConfig();
  const kafka = new Kafka({
    clientId: 'test-concurrency',
    brokers: config.kafka.brokers,
    logLevel: logLevel.NOTHING,
  });
  const topic = `${config.kafka.topicPrefix}concurrency`;
  const groupId = `${config.kafka.topicPrefix}group`;

  beforeAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: 40 }, (_, i) => ({ key: String(i), value: String(i) })),
    });
    await producer.disconnect();
  });

  it('handles messages of one partition concurrently, redelivers from a failure, and commits all in the end', async () => {
    const handled: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let failedOnce = false;
    const consumer = new ResilientConsumer(kafka, {
      name: 'concurrency-test',
      topic,
      consumer: { groupId, maxWaitTimeInMs: 50 },
      fromBeginning: true,
      concurrencyPerPartition: 8,
      eachMessage: async ({ message }) => {
        const n = Number(message.value!.toString());
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // Later messages finish first, so in-order resolution matters.
        await new Promise((resolve) => setTimeout(resolve, 40 - n));
        inFlight--;
        if (n === 10 && !failedOnce) {
          failedOnce = true;
          throw new Error('transient');
        }
        handled.push(n);
      },
    });
    await consumer.start();
    for (let i = 0; i < 200 && new Set(handled).size < 40; i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    await consumer.stop();

    expect(new Set(handled).size).toBe(40);
    expect(maxInFlight).toBeGreaterThan(1);
    // 10 failed once, so it came back, and so did any message after it that was not yet committed.
    expect(handled.filter((n) => n === 10)).toHaveLength(1);
    expect(failedOnce).toBe(true);
    expect(await committedOffset(kafka, groupId, topic)).toBe(40);
  }, 30_000);

  it('commits on an interval, not after every batch, and leaves nothing handled uncommitted once traffic stops', async () => {
    // kafkajs logs every request it sends at debug level: count the offset commits.
    let commits = 0;
    const counted = new Kafka({
      clientId: 'test-commit-interval',
      brokers: config.kafka.brokers,
      logLevel: logLevel.DEBUG,
      logCreator: () => (entry) => {
        if (entry.log.message.startsWith('Request OffsetCommit')) commits++;
      },
    });
    const trickleTopic = `${config.kafka.topicPrefix}trickle`;
    const trickleGroup = `${groupId}-trickle`;
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic: trickleTopic, numPartitions: 4 }]);
    await admin.disconnect();
    let handled = 0;
    const consumer = new ResilientConsumer(counted, {
      name: 'commit-interval-test',
      topic: trickleTopic,
      consumer: { groupId: trickleGroup, maxWaitTimeInMs: 20 },
      fromBeginning: true,
      partitionsConsumedConcurrently: 4,
      concurrencyPerPartition: 4,
      commitIntervalMs: 1000,
      eachMessage: async () => {
        handled++;
        await Promise.resolve();
      },
    });
    await consumer.start();
    await consumer.ready;
    const producer = kafka.producer();
    await producer.connect();
    // 30 sends 40 ms apart, over every partition: dozens of small batches within about a second.
    for (let i = 0; i < 30; i++) {
      await producer.send({
        topic: trickleTopic,
        messages: Array.from({ length: 4 }, (_, p) => ({ partition: p, value: `${i}` })),
      });
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    await producer.disconnect();
    for (let i = 0; i < 100 && handled < 120; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    // No batch comes any more: the trailing commit still lands, while the consumer keeps running.
    let total = await committedOffset(kafka, trickleGroup, trickleTopic);
    for (let i = 0; i < 50 && total < 120; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      total = await committedOffset(kafka, trickleGroup, trickleTopic);
    }
    await consumer.stop();
    expect(handled).toBe(120);
    expect(total).toBe(120);
    // Per-batch commits would be one per partition and fetch: well over 30 here.
    expect(commits).toBeLessThan(10);
  }, 30_000);

  it('without concurrency handles one message at a time', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let seen = 0;
    const consumer = new ResilientConsumer(kafka, {
      name: 'sequential-test',
      topic,
      consumer: { groupId: `${groupId}-${randomUUID()}`, maxWaitTimeInMs: 50 },
      fromBeginning: true,
      eachMessage: async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight--;
        seen++;
      },
    });
    await consumer.start();
    for (let i = 0; i < 100 && seen < 40; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    await consumer.stop();
    expect(seen).toBe(40);
    expect(maxInFlight).toBe(1);
  }, 30_000);

  interface Handling {
    by: string;
    at: string;
    started: number;
    finished?: number;
  }

  /**
   * A first replica handles `count` messages of two partitions, each taking `handleMs`; a second one
   * (hand-over grace `secondGraceMs`) joins the group once the first has started some. What each
   * handled, and when.
   */
  async function secondReplicaJoins(
    name: string,
    { count, handleMs, concurrency, secondGraceMs }: Record<string, number>,
  ): Promise<Handling[]> {
    const movingTopic = `${config.kafka.topicPrefix}${name}`;
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic: movingTopic, numPartitions: 2 }]);
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: movingTopic,
      messages: Array.from({ length: count }, (_, i) => ({ partition: i % 2, value: String(i) })),
    });
    await producer.disconnect();
    const handlings: Handling[] = [];
    const replica = (by: string, graceMs = 0) =>
      new ResilientConsumer(kafka, {
        name: `${name}-${by}`,
        topic: movingTopic,
        consumer: { groupId: `${groupId}-${name}`, maxWaitTimeInMs: 50 },
        fromBeginning: true,
        partitionsConsumedConcurrently: 2,
        concurrencyPerPartition: concurrency,
        commitIntervalMs: 200,
        handoverGraceMs: graceMs,
        eachMessage: async ({ partition, message }) => {
          const handling: Handling = { by, at: `${partition}@${message.offset}`, started: Date.now() };
          handlings.push(handling);
          await new Promise((resolve) => setTimeout(resolve, handleMs));
          handling.finished = Date.now();
        },
      });
    const first = replica('first');
    await first.start();
    for (let i = 0; i < 200 && handlings.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const second = replica('second', secondGraceMs);
    await second.start();
    const settled = async () => {
      for (let i = 0; i < 400; i++) {
        const finished = handlings.filter((h) => h.finished !== undefined);
        if (finished.length === handlings.length && new Set(finished.map((h) => h.at)).size === count) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    await settled();
    // Anything read again after a hand-over grace has started by now, and then finishes.
    await new Promise((resolve) => setTimeout(resolve, secondGraceMs + 1000));
    await settled();
    await Promise.all([first.stop(), second.stop()]);
    expect(new Set(handlings.map((h) => h.at)).size).toBe(count);
    return handlings;
  }

  /** Messages the second replica started while the first still had them in hand. */
  const startedTwiceAtOnce = (handlings: Handling[]) =>
    handlings
      .filter((later) => later.by === 'second')
      .filter((later) =>
        handlings.some(
          (earlier) =>
            earlier.by === 'first' &&
            earlier.at === later.at &&
            (earlier.finished === undefined || earlier.finished > later.started),
        ),
      )
      .map((h) => h.at);

  it('while a long batch waits for room, still answers the group, and hands its partition over finished', async () => {
    // 60 slow messages per partition, 4 at a time: one batch takes 9 s, and unless the consumer heartbeats
    // from inside it, the group cannot rebalance before it ends.
    const handlings = await secondReplicaJoins('long-batch', {
      count: 120,
      handleMs: 600,
      concurrency: 4,
      secondGraceMs: 0,
    });
    expect(handlings.filter((h) => h.by === 'second').length).toBeGreaterThan(0);
    expect(startedTwiceAtOnce(handlings)).toEqual([]);
  }, 60_000);

  it('reads a partition that moved to it only after the hand-over grace, when its owner noticed the rebalance between batches', async () => {
    // Everything fetched at once and in flight; then only empty fetches, where kafkajs itself notices
    // the rebalance and rejoins with the messages still in hand.
    const handlings = await secondReplicaJoins('between-batches', {
      count: 16,
      handleMs: 6000,
      concurrency: 64,
      secondGraceMs: 7000,
    });
    expect(handlings.filter((h) => h.by === 'second').length).toBeGreaterThan(0);
    expect(startedTwiceAtOnce(handlings)).toEqual([]);
  }, 60_000);
});
