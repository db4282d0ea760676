import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { loadAppConfig } from '@lib/config';
import { createKafkaClient } from '@lib/kafka';
import { roundTrip, TestEnv, testEnvironment } from './support/test-environment';

/** The test broker's SASL_SSL listener, as scripts/infra/kafka.sh made it: its own CA, SASL/PLAIN. */
interface SecuredListener {
  brokers: string;
  caFile: string;
  mechanism: string;
  username: string;
  password: string;
}

const listenerFile = join(
  process.env.PUSH_MFA_STATE_DIR ?? join(__dirname, '..', '.local'),
  'kafka',
  'secured',
  'secured.json',
);
const listener = existsSync(listenerFile)
  ? (JSON.parse(readFileSync(listenerFile, 'utf8')) as SecuredListener)
  : undefined;

// A cluster of one's own (KAFKA_BROKERS elsewhere) has no listener of ours to test against.
(listener ? describe : describe.skip)(
  'Kafka over TLS and SASL, as managed clusters are reached (real broker)',
  () => {
    // kafkajs logs every refused attempt through the app's logger; the assertions say what matters.
    beforeAll(() => Logger.overrideLogger(false));

    const securedConfig = (overrides: TestEnv = {}) =>
      loadAppConfig(
        testEnvironment({
          KAFKA_BROKERS: listener!.brokers,
          KAFKA_SSL: 'true',
          KAFKA_SSL_CA_FILE: listener!.caFile,
          KAFKA_SASL_MECHANISM: listener!.mechanism,
          KAFKA_SASL_USERNAME: listener!.username,
          KAFKA_SASL_PASSWORD: listener!.password,
          ...overrides,
        }),
      );

    it('reaches the brokers with the clients the apps build from the environment', async () => {
      const config = securedConfig();
      await roundTrip(createKafkaClient(config.kafka), `${config.kafka.topicPrefix}secured`);
    });

    it("fails on a wrong password with the broker's authentication error", async () => {
      const admin = createKafkaClient(
        securedConfig({ KAFKA_SASL_PASSWORD: 'not-the-password' }).kafka,
      ).admin();
      await expect(admin.connect()).rejects.toThrow(/SASL PLAIN authentication failed/);
    });

    it('does not trust brokers signed by their own CA unless KAFKA_SSL_CA_FILE names it', async () => {
      const admin = createKafkaClient(securedConfig({ KAFKA_SSL_CA_FILE: undefined }).kafka).admin();
      await expect(admin.connect()).rejects.toThrow(/self[- ]signed certificate|unable to verify/);
    }, 60_000);
  },
);
