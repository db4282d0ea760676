import { randomBytes, randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { AppConfig, loadAppConfig } from '@lib/config';
import { kafkaBrokers, mongoUri, withDatabase } from './local-servers';

export type TestEnv = Record<string, string | undefined>;

/** What every test run's topics and databases are named with (then a random id), for purge-earlier-runs. */
export const TEST_TOPIC_PREFIX = 'test-';
export const TEST_DATABASE_PREFIX = 'push_mfa_test_';

/**
 * The environment e2e tests run with: the real servers from the environment (the infra scripts'
 * defaults otherwise), and a database, topic prefix, consumer group and keyring unique to the caller,
 * so test files can run in parallel. Apps started with the same TestEnv share them.
 */
export function testEnvironment(overrides: TestEnv = {}): TestEnv {
  const runId = randomUUID().slice(0, 8);
  return {
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    KAFKA_BROKERS: kafkaBrokers(),
    MONGODB_URI: withDatabase(mongoUri(), `${TEST_DATABASE_PREFIX}${runId}`),
    KAFKA_TOPIC_PREFIX: `${TEST_TOPIC_PREFIX}${runId}.`,
    AUTH_MODE: 'dev',
    MFA_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    DISPATCHER_CONSUMER_GROUP: `dispatcher-${runId}`,
    // Tests make many requests from one address; the limit has its own test.
    API_RATE_LIMIT_PER_MINUTE: '0',
    ...overrides,
  };
}

export function testAppConfig(overrides: TestEnv = {}): AppConfig {
  return loadAppConfig(testEnvironment(overrides));
}

/** A kafkajs client for a test's own producers, consumers and admin, on the test broker; quiet. */
export function testKafka(clientId: string, config: AppConfig = testAppConfig()): Kafka {
  return new Kafka({ clientId, brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });
}

/**
 * Creates `topic`, sends a message through it and reads it back with a consumer of its own, then
 * deletes the topic: every kind of client (admin, producer, consumer) has reached the brokers. Throws
 * if anything fails (it builds outside Jest too, with the benchmark).
 */
export async function roundTrip(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: `${topic}-${randomUUID()}` });
  try {
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = new Promise<string>((resolve, reject) => {
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      setTimeout(() => reject(new Error(`nothing read back from ${topic} within 30 s`)), 30_000).unref();
      void consumer.run({ eachMessage: async ({ message }) => resolve(message.value?.toString() ?? '') });
    });
    const payload = JSON.stringify({ hello: randomUUID() });
    await producer.send({ topic, messages: [{ key: 'round-trip', value: payload }] });
    const read = await received;
    if (read !== payload) throw new Error(`read back ${read} from ${topic}, not the ${payload} sent`);
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await Promise.allSettled([consumer.disconnect(), producer.disconnect(), admin.disconnect()]);
  }
}
