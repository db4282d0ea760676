import { Logger } from '@nestjs/common';
import { Kafka, KafkaConfig, logCreator, logLevel, Partitioners, Producer, SASLOptions } from 'kafkajs';
import type { KafkaSettings } from '@lib/config';

/** Builds a kafkajs client from the validated settings, with SSL and SASL for real clusters. */
export function createKafkaClient(settings: KafkaSettings, clientIdSuffix = ''): Kafka {
  const config: KafkaConfig = {
    clientId: `${settings.clientId}${clientIdSuffix}`,
    brokers: settings.brokers,
    // A cluster's own CA is trusted instead of Node's public ones, and a client certificate is shown
    // to brokers that require one.
    ssl: settings.ssl && (settings.tls?.ca || settings.tls?.cert) ? settings.tls : settings.ssl,
    logLevel: logLevel.WARN,
    logCreator: toNestLogger,
    // Waits between retries stay short (kafkajs doubles them up to 30 s): after a broker restart the
    // clients are back within seconds, not after the half-minute wait they had reached while it was down.
    retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 8 },
  };
  if (settings.sasl) {
    config.sasl = {
      mechanism: settings.sasl.mechanism,
      username: settings.sasl.username,
      password: settings.sasl.password,
    } as SASLOptions;
  }
  return new Kafka(config);
}

/**
 * Idempotent with one request in flight: a retried send neither duplicates nor reorders a key's messages.
 * It never creates a topic: one a broker creates on first write gets the broker's default partitions,
 * and start-up would then find it existing and leave it so (topics are created by prepareTopics).
 */
export function orderedIdempotentProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

/**
 * kafkajs warns so of every idempotent producer with bounded retries, which is what ours are by
 * design (a failed send is never resent by it; the producer is replaced): a warning at every start
 * teaches operators to ignore warnings.
 */
const EXPECTED_WARNING = /^Limiting retries for the idempotent producer/;

/** kafkajs logs through the app's logger, so its lines share the app's format and redaction. */
const toNestLogger: logCreator = () => {
  const logger = new Logger('kafkajs');
  return ({ level, log }) => {
    const { message, ...extra } = log;
    const line = `${message} ${JSON.stringify(extra)}`;
    if (level === logLevel.ERROR) logger.error(line);
    else if (level === logLevel.WARN && !EXPECTED_WARNING.test(message)) logger.warn(line);
    else logger.debug(line);
  };
};
