import { Kafka, KafkaConfig, logLevel, SASLOptions } from 'kafkajs';
import type { KafkaSettings } from '@lib/config';

/** Builds a kafkajs client from the validated settings, with SSL and SASL for real clusters. */
export function createKafkaClient(settings: KafkaSettings, clientIdSuffix = ''): Kafka {
  const config: KafkaConfig = {
    clientId: `${settings.clientId}${clientIdSuffix}`,
    brokers: settings.brokers,
    ssl: settings.ssl,
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 200, retries: 8 },
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
