import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { AppConfig, loadAppConfig } from '@lib/config';
import { createKafkaClient } from '@lib/kafka';
import { kafkaIsOurs } from './support/local-servers';
import { roundTrip, TestEnv, testEnvironment } from './support/test-environment';

/**
 * The test broker's secured listeners, as scripts/infra/kafka.sh made them, with a CA of their own:
 * `brokers` over SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 for one user), `mtlsBrokers` over TLS
 * with a client certificate required.
 */
interface SecuredListener {
  brokers: string;
  mtlsBrokers: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  username: string;
  plainPassword: string;
  /** Another password: a SCRAM login that fell back to PLAIN would fail. */
  scramPassword: string;
}

// Against a cluster of one's own (KAFKA_BROKERS elsewhere, as scripts/infra/kafka.sh reads it) there
// is no listener of ours to test; against ours, a missing one fails the tests.
const ourBroker = kafkaIsOurs();
const listenerFile = join(
  process.env.PUSH_MFA_STATE_DIR ?? join(__dirname, '..', '.local'),
  'kafka',
  'secured',
  'secured.json',
);

function securedListener(): SecuredListener {
  if (!existsSync(listenerFile))
    throw new Error(
      `${listenerFile} is missing: run 'bash scripts/infra/kafka.sh restart' to add the secured listeners`,
    );
  return JSON.parse(readFileSync(listenerFile, 'utf8')) as SecuredListener;
}

(ourBroker ? describe : describe.skip)(
  'Kafka over TLS with SASL or a client certificate, as real clusters are reached (real broker)',
  () => {
    let listener: SecuredListener;
    beforeAll(() => {
      // kafkajs logs every refused attempt through the app's logger; the assertions say what matters.
      Logger.overrideLogger(false);
      listener = securedListener();
    });

    /** The apps' configuration for one of the listeners, over TLS trusting its CA. */
    const tlsConfig = (brokers: string, env: TestEnv) =>
      loadAppConfig(
        testEnvironment({
          KAFKA_BROKERS: brokers,
          KAFKA_SSL: 'true',
          KAFKA_SSL_CA_FILE: listener.caFile,
          ...env,
        }),
      );
    const securedConfig = (overrides: TestEnv = {}) =>
      tlsConfig(listener.brokers, {
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: listener.username,
        KAFKA_SASL_PASSWORD: listener.plainPassword,
        ...overrides,
      });

    /** Admin, producer and consumer, built as the apps build them, through a topic of the test's own. */
    const roundTripWith = (config: AppConfig) =>
      roundTrip(createKafkaClient(config.kafka), `${config.kafka.topicPrefix}secured`);
    const connectingWith = (config: AppConfig) => createKafkaClient(config.kafka).admin().connect();

    it('reaches the brokers with the clients the apps build from the environment', async () => {
      await roundTripWith(securedConfig());
    });

    it.each(['scram-sha-256', 'scram-sha-512'])('authenticates with %s as well', async (mechanism) => {
      await roundTripWith(
        securedConfig({ KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_PASSWORD: listener.scramPassword }),
      );
    });

    it("fails on a wrong password with the broker's authentication error", async () => {
      await expect(
        connectingWith(securedConfig({ KAFKA_SASL_PASSWORD: 'not-the-password' })),
      ).rejects.toThrow(/SASL PLAIN authentication failed/);
    });

    it('does not trust brokers signed by their own CA unless KAFKA_SSL_CA_FILE names it', async () => {
      await expect(connectingWith(securedConfig({ KAFKA_SSL_CA_FILE: undefined }))).rejects.toThrow(
        /self[- ]signed certificate|unable to verify/,
      );
    }, 60_000);

    describe('mutual TLS', () => {
      const mtlsConfig = (overrides: TestEnv = {}) =>
        tlsConfig(listener.mtlsBrokers, {
          KAFKA_SSL_CERT_FILE: listener.certFile,
          KAFKA_SSL_KEY_FILE: listener.keyFile,
          ...overrides,
        });

      it('reaches brokers that require a client certificate with KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE', async () => {
        await roundTripWith(mtlsConfig());
      });

      it('is turned away by those brokers without one', async () => {
        const withoutCertificate = mtlsConfig({
          KAFKA_SSL_CERT_FILE: undefined,
          KAFKA_SSL_KEY_FILE: undefined,
        });
        // The broker's alert, or (should the connection close before the alert is read) the close.
        await expect(connectingWith(withoutCertificate)).rejects.toThrow(
          /alert (bad certificate|certificate required)|ECONNRESET|Closed connection/,
        );
      }, 60_000);
    });
  },
);
