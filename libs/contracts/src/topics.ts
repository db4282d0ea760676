import type { KafkaSettings } from '@lib/config';

/** Every Kafka topic the system uses, by its logical name. Producers and consumers both resolve names here. */
export const TOPICS = {
  configChanged: 'mfa.config.changed',
  configApplied: 'mfa.config.applied',
  pushRequested: 'mfa.push.requested',
  pushResults: 'mfa.push.results',
  pushDeadLetter: 'mfa.push.requested.dlq',
} as const;

/** Configuration topics carry little traffic; a few partitions keep each tenant's events in order. */
export const CONFIG_TOPIC_PARTITIONS = 3;

export type TopicKey = keyof typeof TOPICS;
export type TopicNames = Record<TopicKey, string>;

export function resolveTopicNames(settings: Pick<KafkaSettings, 'topicPrefix'>): TopicNames {
  const names = {} as TopicNames;
  for (const key of Object.keys(TOPICS) as TopicKey[]) names[key] = `${settings.topicPrefix}${TOPICS[key]}`;
  return names;
}
