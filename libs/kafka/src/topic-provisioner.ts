import type { Admin } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
}

const LEADER_WAIT_MS = 15_000;

/** Topics an app needs that are not there, while it may not create them (KAFKA_CREATE_TOPICS=false). */
export class MissingTopicsError extends Error {
  constructor(readonly topics: string[]) {
    super(
      `Kafka topics missing: ${topics.join(', ')}. KAFKA_CREATE_TOPICS=false, so create them ` +
        `(docs/operations.md lists each with its partitions), correct KAFKA_TOPIC_PREFIX or KAFKA_TOPIC_* ` +
        `if they are named wrong, or set KAFKA_CREATE_TOPICS=true`,
    );
    this.name = 'MissingTopicsError';
  }
}

/**
 * Creates the missing topics when the app may (`create`); otherwise checks they all exist: a consumer
 * subscribed to a missing topic only retries, and a producer's sends fail one by one, neither saying why.
 */
export async function prepareTopics(admin: Admin, specs: TopicSpec[], create: boolean): Promise<void> {
  if (create) return ensureTopics(admin, specs);
  const existing = new Set(await admin.listTopics());
  const missing = specs.map((spec) => spec.topic).filter((topic) => !existing.has(topic));
  if (missing.length > 0) throw new MissingTopicsError(missing);
}

/**
 * Creates the topics that do not exist yet and returns once every partition has a leader, also when
 * another process created a topic a moment ago (a client using it before then gets "does not host
 * this topic-partition").
 */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((spec) => !existing.has(spec.topic));
  if (missing.length > 0) {
    try {
      // Leaders are awaited below, by a loop that also tolerates a broker still loading after a restart.
      await admin.createTopics({
        waitForLeaders: false,
        topics: missing.map((spec) => ({ ...spec, replicationFactor: -1 })),
      });
    } catch (error) {
      const causes = (error as { errors?: { type?: string }[] }).errors ?? [];
      if (causes.length === 0 || causes.some((cause) => cause.type !== 'TOPIC_ALREADY_EXISTS')) throw error;
    }
  }
  await waitForLeaders(
    admin,
    specs.map((spec) => spec.topic),
  );
}

async function waitForLeaders(admin: Admin, topics: string[]): Promise<void> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  for (;;) {
    try {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
      if (
        metadata.every((topic) => topic.partitions.length > 0 && topic.partitions.every((p) => p.leader >= 0))
      )
        return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline)
      throw new Error(`topics ${topics.join(', ')} have no leader after ${LEADER_WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * `read` (offsets of `topic`), tried again for a few seconds: a topic created a moment ago may have no
 * leader yet, and kafkajs's admin does not wait for one.
 */
export async function readOffsetsOfNewTopic<T>(topic: string, read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= 10) throw new Error(`cannot read ${topic}'s offsets: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}
