import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { ResilientConsumer } from '@lib/kafka';
import { testAppConfig, testKafka } from './support/test-environment';
import { committedOffset, createTopic } from './support/topic-reader';

// Several messages of one partition at once, yet offsets committed in order: a message that fails
// is redelivered, and so is every message after it, never skipped.
describe('ResilientConsumer with concurrency per partition (real Kafka)', () => {
  const config = testAppConfig();
  const kafka = testKafka('test-concurrency', config);
  const topic = `${config.kafka.topicPrefix}concurrency`;
  const groupId = `${config.kafka.topicPrefix}group`;

  beforeAll(async () => {
    await createTopic(kafka, topic, 1);
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
    const trickleTopic = await createTopic(kafka, `${config.kafka.topicPrefix}trickle`, 4);
    const trickleGroup = `${groupId}-trickle`;
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

  it('goes on with the other partitions while one partition has no room for another message', async () => {
    // Partition 0's first two messages hang (a provider retrying until the challenge expires), and 40
    // more wait behind them: over the 2 × 16 its window holds, so it is full. kafkajs fetches again only
    // once every batch of a fetch returned, so a batch waiting for room there would stop partition 1 too.
    const stuckTopic = await createTopic(kafka, `${config.kafka.topicPrefix}stuck`, 2);
    const stuckGroup = `${groupId}-stuck`;
    const producer = kafka.producer();
    await producer.connect();
    const send = (partition: number, values: string[]) =>
      producer.send({ topic: stuckTopic, messages: values.map((value) => ({ partition, value })) });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const handled: string[] = [];
    const consumer = new ResilientConsumer(kafka, {
      name: 'stuck-partition-test',
      topic: stuckTopic,
      consumer: { groupId: stuckGroup, maxWaitTimeInMs: 50 },
      fromBeginning: true,
      partitionsConsumedConcurrently: 2,
      concurrencyPerPartition: 2,
      eachMessage: async ({ message }) => {
        const value = message.value!.toString();
        if (value.startsWith('hang')) await released;
        handled.push(value);
      },
    });
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 100 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    };
    try {
      const behind = Array.from({ length: 40 }, (_, i) => `after-${i}`);
      await send(0, ['hang-1', 'hang-2', ...behind]);
      await consumer.start();
      await consumer.ready;
      await send(1, ['other-1']);
      await until(() => handled.includes('other-1'));
      // Sent while partition 0 has been full for a while: a later fetch must still bring it.
      await send(1, ['other-2', 'other-3']);
      await until(() => handled.includes('other-3'));
      expect(handled).toEqual(['other-1', 'other-2', 'other-3']);

      // Then the rest of partition 0, the part it could not hold read again once it had room.
      release();
      await until(() => handled.length === 45);
      expect(handled.slice(3).sort()).toEqual(['hang-1', 'hang-2', ...behind].sort());
    } finally {
      release();
      await consumer.stop();
      await producer.disconnect();
    }
    expect(await committedOffset(kafka, stuckGroup, stuckTopic)).toBe(45);
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

  it('with startAtEnds reads every message published once start() returned, and none before; deletes its own group at stop', async () => {
    const ownTopic = await createTopic(kafka, `${config.kafka.topicPrefix}own-${randomUUID()}`, 1);
    const ownGroup = `${groupId}-own-${randomUUID()}`;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: ownTopic, messages: [{ value: 'before' }] });
    const handled: string[] = [];
    const consumer = new ResilientConsumer(kafka, {
      name: 'own-group-test',
      topic: ownTopic,
      consumer: { groupId: ownGroup, maxWaitTimeInMs: 50 },
      fromBeginning: false,
      startAtEnds: true,
      deleteGroupOnStop: true,
      eachMessage: async ({ message }) => void handled.push(message.value!.toString()),
    });
    const admin = kafka.admin();
    await admin.connect();
    let stopping: Promise<void> | undefined;
    try {
      await consumer.start();
      // Published the moment start() returned, before the first fetch (without startAtEnds, kafkajs would
      // start at the end as of that fetch, after this message).
      await producer.send({ topic: ownTopic, messages: [{ value: 'after' }] });
      for (let i = 0; i < 100 && handled.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(handled).toEqual(['after']);
      expect((await admin.listGroups()).groups.map((group) => group.groupId)).toContain(ownGroup);
      await (stopping = consumer.stop());
      expect((await admin.listGroups()).groups.map((group) => group.groupId)).not.toContain(ownGroup);
    } finally {
      await (stopping ?? consumer.stop());
      await producer.disconnect();
      await admin.disconnect();
    }
  }, 30_000);
});
