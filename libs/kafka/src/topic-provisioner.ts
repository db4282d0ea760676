import type { Admin } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
}

/** Creates the topics that do not exist yet; existing topics (also ones a peer created a moment ago) are left as they are. */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((spec) => !existing.has(spec.topic));
  if (missing.length === 0) return;
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((spec) => ({ ...spec, replicationFactor: -1 })),
    });
  } catch (error) {
    const causes = (error as { errors?: { type?: string }[] }).errors ?? [];
    if (causes.length === 0 || causes.some((cause) => cause.type !== 'TOPIC_ALREADY_EXISTS')) throw error;
  }
}
