import type { KafkaSettings } from '@lib/config';

/** Every Kafka topic the system uses, by its logical name, with its default name. */
export const TOPICS = {
  configChanged: 'mfa.config.changed',
  configApplied: 'mfa.config.applied',
  pushRequested: 'mfa.push.requested',
  pushResults: 'mfa.push.results',
  pushDeadLetter: 'mfa.push.requested.dlq',
  /** Internal to the dispatchers: requests whose provider failed, retried away from the requests' partitions. */
  pushRetrying: 'mfa.push.retrying',
} as const;

export type TopicKey = keyof typeof TOPICS;
export type TopicNames = Record<TopicKey, string>;

/** The variable that replaces a topic's whole name, prefix included: for clusters with naming rules. */
export const TOPIC_NAME_VARIABLES: Record<TopicKey, string> = {
  configChanged: 'KAFKA_TOPIC_CONFIG_CHANGED',
  configApplied: 'KAFKA_TOPIC_CONFIG_APPLIED',
  pushRequested: 'KAFKA_TOPIC_PUSH_REQUESTED',
  pushResults: 'KAFKA_TOPIC_PUSH_RESULTS',
  pushDeadLetter: 'KAFKA_TOPIC_PUSH_DEAD_LETTER',
  pushRetrying: 'KAFKA_TOPIC_PUSH_RETRYING',
};

/** What names the topics: a prefix for the defaults, and any full names that replace them. */
export type TopicNameSettings = Pick<KafkaSettings, 'topicPrefix'> &
  Partial<Pick<KafkaSettings, 'topicNameOverrides'>>;

/** The one place topic names are decided: producers, consumers and topic creation all ask here. */
export function resolveTopicNames(settings: TopicNameSettings): TopicNames {
  const names = {} as TopicNames;
  for (const key of topicKeys())
    names[key] = settings.topicNameOverrides?.[key] ?? `${settings.topicPrefix}${TOPICS[key]}`;
  return names;
}

/** Partitions of each topic when the apps create it. */
export function topicPartitions(
  settings: Pick<KafkaSettings, 'pushRequestPartitions' | 'configTopicPartitions'>,
): Record<TopicKey, number> {
  return {
    configChanged: settings.configTopicPartitions,
    configApplied: settings.configTopicPartitions,
    pushRequested: settings.pushRequestPartitions,
    // As many as the requests: results keep pace with them, and a replica reads them all at start.
    pushResults: settings.pushRequestPartitions,
    // Rare, and read by operators: one partition keeps them in the order they failed.
    pushDeadLetter: 1,
    // As many as the requests: a provider failing for many tenants moves their load here.
    pushRetrying: settings.pushRequestPartitions,
  };
}

// Kafka's own rules (org.apache.kafka.common.internals.Topic), checked at start-up rather than at the first send.
const MAX_TOPIC_NAME_LENGTH = 249;
const TOPIC_NAME_CHARACTERS = /^[a-zA-Z0-9._-]*$/;

/**
 * Why the settings cannot name the topics, each problem naming the variable to fix; empty when they can.
 * A name Kafka refuses, or two topics sharing a name (their events would mix), is found at start-up.
 */
export function topicNameProblems(settings: TopicNameSettings): string[] {
  const problems: string[] = [];
  const names = resolveTopicNames(settings);
  const overridden = (key: TopicKey) => settings.topicNameOverrides?.[key] !== undefined;
  const source = (key: TopicKey) =>
    overridden(key) ? TOPIC_NAME_VARIABLES[key] : `KAFKA_TOPIC_PREFIX + "${TOPICS[key]}"`;

  if (!TOPIC_NAME_CHARACTERS.test(settings.topicPrefix))
    problems.push(
      `KAFKA_TOPIC_PREFIX may contain only letters, digits, ".", "_" and "-" (got "${settings.topicPrefix}")`,
    );
  const longestPrefixed = topicKeys()
    .filter((key) => !overridden(key))
    .map((key) => names[key])
    .sort((a, b) => b.length - a.length)[0];
  if (longestPrefixed !== undefined && longestPrefixed.length > MAX_TOPIC_NAME_LENGTH)
    problems.push(
      `KAFKA_TOPIC_PREFIX is too long: it makes "${longestPrefixed}", ${longestPrefixed.length} characters, and Kafka allows ${MAX_TOPIC_NAME_LENGTH}`,
    );

  for (const key of topicKeys().filter(overridden)) {
    const name = names[key];
    const variable = TOPIC_NAME_VARIABLES[key];
    if (!TOPIC_NAME_CHARACTERS.test(name))
      problems.push(`${variable} may contain only letters, digits, ".", "_" and "-" (got "${name}")`);
    else if (name === '.' || name === '..')
      problems.push(`${variable} cannot be "${name}": Kafka refuses it as a topic name`);
    if (name.length > MAX_TOPIC_NAME_LENGTH)
      problems.push(`${variable} must be at most ${MAX_TOPIC_NAME_LENGTH} characters (got ${name.length})`);
  }

  // Kafka's metrics write "." as "_", so it refuses a topic whose name differs from another's only there.
  const byCollisionName = new Map<string, TopicKey[]>();
  for (const key of topicKeys()) {
    const collisionName = names[key].replace(/\./g, '_');
    byCollisionName.set(collisionName, [...(byCollisionName.get(collisionName) ?? []), key]);
  }
  for (const keys of byCollisionName.values()) {
    if (keys.length < 2) continue;
    const named = keys.map((key) => `${source(key)} ("${names[key]}")`).join(', ');
    const same = keys.every((key) => names[key] === names[keys[0]]);
    problems.push(
      `${named} ${same ? 'name the same topic' : 'name topics Kafka cannot tell apart ("." and "_" count as one)'}: give each topic its own name`,
    );
  }
  return problems;
}

function topicKeys(): TopicKey[] {
  return Object.keys(TOPICS) as TopicKey[];
}
