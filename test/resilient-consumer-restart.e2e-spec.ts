import { randomUUID } from 'node:crypto';
import { Consumer, ConsumerConfig, Kafka, KafkaJSNonRetriableError } from 'kafkajs';
import { ResilientConsumer } from '@lib/kafka';
import { waitUntil } from './support/push-tenants';
import { testAppConfig, testKafka } from './support/test-environment';
import { committedOffset, createTopic } from './support/topic-reader';

interface Crash {
  restart: boolean;
  error: string;
}

// The kafkajs trap: its consumer restarts itself only after errors it deems retriable. A handler that
// throws a KafkaJSNonRetriableError, or a TypeError/RangeError (kafkajs's "unrecoverable" errors: any
// bug reading a malformed message), crashes it with restart: false, and it stays down, consuming nothing
// (consumer/index.js onCrash; retry/index.js). A ResilientConsumer must come back by itself.
describe('ResilientConsumer after kafkajs gives up on its consumer (real Kafka)', () => {
  const config = testAppConfig();
  const kafka = testKafka('test-crash-restart', config);

  /** The Kafka client, its consumers' CRASH events recorded: what kafkajs itself decided. */
  function watchedKafka(crashes: Crash[]): Kafka {
    const createConsumer = (consumerConfig: ConsumerConfig): Consumer => {
      const consumer = kafka.consumer(consumerConfig);
      consumer.on(consumer.events.CRASH, ({ payload }) =>
        crashes.push({ restart: payload.restart, error: `${payload.error.name}: ${payload.error.message}` }),
      );
      return consumer;
    };
    return Object.assign(Object.create(kafka) as Kafka, { consumer: createConsumer });
  }

  async function produce(topic: string, values: string[]): Promise<void> {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: values.map((value) => ({ key: value, value })) });
    await producer.disconnect();
  }

  const bugs: [string, () => Error][] = [
    // A handler reading a field of a message that lacks it.
    [
      'a TypeError (a bug in the handler)',
      () => new TypeError("Cannot read properties of undefined (reading 'provider')"),
    ],
    ['a KafkaJSNonRetriableError', () => new KafkaJSNonRetriableError('this message can never be handled')],
  ];
  /**
   * m2's handler throws once. One message at a time, kafkajs runs the handler and crashes for good;
   * several at once, the consumer runs it (kafkajs only fetches) and reads m2 again after a backoff.
   */
  async function consumeThroughABug(
    bug: () => Error,
    concurrencyPerPartition: number,
    crashesForGood: number,
  ): Promise<void> {
    const topic = `${config.kafka.topicPrefix}crash-${randomUUID().slice(0, 8)}`;
    const groupId = `${topic}-group`;
    await createTopic(kafka, topic, 1);
    await produce(topic, ['m0', 'm1', 'm2', 'm3', 'm4']);

    const crashes: Crash[] = [];
    // A broker started a moment ago adds crashes kafkajs restarts from itself (coordinator loading).
    const forGood = () => crashes.filter((crash) => !crash.restart);
    const handled: string[] = [];
    let thrown = false;
    const consumer = new ResilientConsumer(watchedKafka(crashes), {
      name: 'crash-restart-test',
      topic,
      consumer: { groupId, maxWaitTimeInMs: 50 },
      fromBeginning: true,
      concurrencyPerPartition,
      commitIntervalMs: 200,
      eachMessage: async ({ message }) => {
        const value = message.value!.toString();
        // The bug bites once: the message itself can be handled.
        if (value === 'm2' && !thrown) {
          thrown = true;
          throw bug();
        }
        handled.push(value);
      },
    });
    try {
      await consumer.start();
      await waitUntil(() => thrown, 'the bug', 45_000);
      if (crashesForGood > 0) {
        await waitUntil(() => forGood().length > 0, 'the crash', 45_000);
        // kafkajs's own verdict: it will not restart this consumer.
        expect(forGood()[0]).toMatchObject({
          restart: false,
          error: expect.stringMatching(/^KafkaJSNonRetriableError/),
        });
      }

      // Produced after the crash: only a consumer that came back reads these.
      await produce(topic, ['m5', 'm6']);
      const all = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6'];
      await waitUntil(() => all.every((value) => handled.includes(value)), 'every message handled', 45_000);
    } finally {
      await consumer.stop();
    }
    expect(handled.filter((value) => value === 'm2')).toEqual(['m2']);
    expect(forGood()).toHaveLength(crashesForGood);
    expect(await committedOffset(kafka, groupId, topic)).toBe(7);
  }

  describe('one message at a time', () => {
    it.each(bugs)(
      'comes back by itself after %s crashed it for good, redelivers the failed message and goes on consuming',
      (_bug, bug) => consumeThroughABug(bug, 1, 1),
      60_000,
    );
  });

  describe('several messages of a partition at once', () => {
    it.each(bugs)(
      'does not crash on %s: reads the failed message again after a backoff and goes on consuming',
      (_bug, bug) => consumeThroughABug(bug, 4, 0),
      60_000,
    );
  });
});
