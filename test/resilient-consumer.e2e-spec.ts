import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { ensureTopics, ResilientConsumer } from '@lib/kafka';
import { testAppConfig } from './support/test-environment';

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

  async function committedOffset(): Promise<number> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [{ partitions }] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return Number(partitions[0].offset);
    } finally {
      await admin.disconnect();
    }
  }

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
    expect(await committedOffset()).toBe(40);
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
});
