import { randomUUID } from 'node:crypto';
import { Consumer, Kafka } from 'kafkajs';
import type { AppConfig } from '@lib/config';
import { ensureTopics } from '@lib/kafka';
import { testKafka } from './test-environment';

export interface ReadMessage {
  key: string;
  value: Record<string, unknown>;
  raw: string;
}

/** Reads a real topic from its beginning and lets a test wait for the messages it expects. */
export class TopicReader {
  readonly messages: ReadMessage[] = [];
  private consumer?: Consumer;
  private listeners: (() => void)[] = [];

  constructor(
    private readonly config: AppConfig,
    private readonly topic: string,
  ) {}

  async start(): Promise<this> {
    const kafka = testKafka('test-reader', this.config);
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic: this.topic, numPartitions: 3 }]);
    await admin.disconnect();
    this.consumer = kafka.consumer({ groupId: `test-reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ message }) => {
        const raw = message.value?.toString() ?? '';
        let value: Record<string, unknown> = {};
        try {
          value = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          // kept as raw: some tests send malformed messages on purpose
        }
        this.messages.push({ key: message.key?.toString() ?? '', value, raw });
        this.listeners.forEach((listener) => listener());
      },
    });
    return this;
  }

  async waitFor(predicate: (message: ReadMessage) => boolean, timeoutMs = 20_000): Promise<ReadMessage> {
    const found = () => this.messages.find(predicate);
    return new Promise((resolve, reject) => {
      const check = () => {
        const message = found();
        if (!message) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((listener) => listener !== check);
        resolve(message);
      };
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((listener) => listener !== check);
        reject(
          new Error(
            `no matching message on ${this.topic} within ${timeoutMs} ms; saw ${this.messages.length}, the last: ` +
              this.messages
                .slice(-5)
                .map((m) => m.raw)
                .join('\n'),
          ),
        );
      }, timeoutMs);
      this.listeners.push(check);
      check();
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

/** Messages in a topic now (high minus low watermark, summed over partitions). */
export async function topicSize(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, { high, low }) => sum + Number(high) - Number(low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** A consumer group's committed offsets in a topic, summed over partitions (0 where none yet). */
export async function committedOffset(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [{ partitions }] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return partitions.reduce((sum, { offset }) => sum + Math.max(0, Number(offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Creates `topic` with `numPartitions` on the test broker (nothing if it exists); returns its name. */
export async function createTopic(kafka: Kafka, topic: string, numPartitions: number): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [{ topic, numPartitions }]);
  } finally {
    await admin.disconnect();
  }
  return topic;
}
