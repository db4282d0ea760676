import { Kafka, logLevel } from 'kafkajs';
import mongoose, { Schema } from 'mongoose';
import { roundTrip, testAppConfig } from './support/test-environment';

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
    await roundTrip(kafka, `${config.kafka.topicPrefix}smoke`);
  });
});
