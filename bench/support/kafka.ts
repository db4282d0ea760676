import { Consumer, Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import type { PushRequestedEvent } from '@lib/contracts';
import { ensureTopics } from '@lib/kafka';

export function benchKafka(brokers: string[], clientId: string): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING });
}

/**
 * Creates a topic and waits for its leaders as the apps do: kafkajs's own wait gives up when Kafka 4
 * answers "does not host this topic-partition" just after the creation (it failed 3 chaos scenarios
 * of one CI run).
 */
export async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [{ topic, numPartitions: partitions }]);
  } finally {
    await admin.disconnect();
  }
}

/** The requesting service's side: produces push requests, remembering when each was produced. */
export class RequestProducer {
  readonly producedAt = new Map<string, number>();
  private readonly producer: Producer;

  constructor(
    kafka: Kafka,
    private readonly topic: string,
  ) {
    this.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  }

  async connect(): Promise<this> {
    await this.producer.connect();
    return this;
  }

  async send(requests: PushRequestedEvent[]): Promise<void> {
    const now = Date.now();
    for (const request of requests) this.producedAt.set(request.challenge_id, now);
    await this.producer.send({
      topic: this.topic,
      messages: requests.map((request) => ({ key: request.challenge_id, value: JSON.stringify(request) })),
    });
  }

  /** Produces all of them in batches, as fast as the broker takes them. */
  async sendAll(requests: PushRequestedEvent[], batch = 1000): Promise<void> {
    for (let start = 0; start < requests.length; start += batch)
      await this.send(requests.slice(start, start + batch));
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** Reads a topic from its beginning, recording when each message (by key) arrived. */
export class TopicWatcher {
  readonly arrivedAt = new Map<string, number>();
  readonly statuses = new Map<string, string>();
  private consumer?: Consumer;

  constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
  ) {}

  async start(readStatus = true): Promise<this> {
    this.consumer = this.kafka.consumer({
      groupId: `bench-watch-${Date.now()}-${Math.random()}`,
      maxWaitTimeInMs: 20,
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      // A watcher commits nothing: kafkajs's commit after every batch would delay the next fetch, and
      // with it the arrival times measured here, by tens of milliseconds.
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const now = Date.now();
        for (const message of batch.messages) {
          const key = message.key?.toString() ?? '';
          if (!this.arrivedAt.has(key)) this.arrivedAt.set(key, now);
          if (readStatus)
            this.statuses.set(key, (JSON.parse(message.value!.toString()) as { status: string }).status);
        }
      },
    });
    return this;
  }

  async waitForCount(count: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.arrivedAt.size < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return this.arrivedAt.size >= count;
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
