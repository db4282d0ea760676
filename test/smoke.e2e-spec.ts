import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import mongoose, { Schema } from 'mongoose';
import { testAppConfig } from './support/test-environment';

// Proves the wiring through the real servers started by scripts/infra: it fails when either is down.
describe('real servers (smoke)', () => {
  const config = testAppConfig();

  it('writes a mongoose document to the MongoDB-compatible server and reads it back', async () => {
    const connection = await mongoose
      .createConnection(config.mongodbUri, { serverSelectionTimeoutMS: 5000 })
      .asPromise();
    try {
      const Probe = connection.model(
        'SmokeProbe',
        new Schema({ name: String, settings: { strategy: String } }),
      );
      const written = await Probe.create({ name: 'probe', settings: { strategy: 'code' } });
      const read = await Probe.findById(written._id).lean();
      expect(read).toMatchObject({ name: 'probe', settings: { strategy: 'code' } });
    } finally {
      await connection.dropDatabase().catch(() => undefined);
      await connection.close();
    }
  });

  it('round-trips a message through a Kafka topic it creates', async () => {
    const kafka = new Kafka({
      clientId: 'smoke',
      brokers: config.kafka.brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 3 },
    });
    const topic = `${config.kafka.topicPrefix}smoke`;
    const admin = kafka.admin();
    const producer = kafka.producer();
    const consumer = kafka.consumer({ groupId: `smoke-${randomUUID()}` });
    try {
      await admin.connect();
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      await producer.connect();
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received = new Promise<string>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => resolve(message.value?.toString() ?? '') });
      });
      const payload = JSON.stringify({ hello: randomUUID() });
      await producer.send({ topic, messages: [{ key: 'smoke', value: payload }] });
      await expect(received).resolves.toBe(payload);
      await admin.deleteTopics({ topics: [topic] });
    } finally {
      await Promise.allSettled([consumer.disconnect(), producer.disconnect(), admin.disconnect()]);
    }
  });
});
