import { Logger } from '@nestjs/common';
import type { Consumer, ConsumerConfig, EachMessagePayload, Kafka } from 'kafkajs';
import { ensureTopics } from './topic-provisioner';

export interface ResilientConsumerOptions {
  name: string;
  topic: string;
  consumer: ConsumerConfig;
  fromBeginning: boolean;
  partitionsConsumedConcurrently?: number;
  /** Creates the topic with this many partitions if it is missing (when the app may create topics). */
  createTopicPartitions?: number;
  eachMessage: (payload: EachMessagePayload) => Promise<void>;
}

/**
 * A kafkajs consumer that comes back after a crash: kafkajs restarts itself only on errors it deems
 * retriable, and a consumer that stays down silently stops the product. Offsets are committed only
 * for messages whose handler resolved.
 */
export class ResilientConsumer {
  private readonly logger: Logger;
  private consumer?: Consumer;
  private stopped = false;
  private starting?: Promise<void>;
  private wakeFromBackoff?: () => void;
  private joined?: () => void;
  /** Resolves the first time the consumer has joined its group. */
  readonly ready: Promise<void>;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: ResilientConsumerOptions,
  ) {
    this.logger = new Logger(options.name);
    this.ready = new Promise((resolve) => (this.joined = resolve));
  }

  async start(): Promise<void> {
    const consumer = this.kafka.consumer(this.options.consumer);
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => this.joined?.());
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.stopped) return;
      this.logger.error(
        `consumer crashed and kafkajs will not restart it: ${payload.error.message}; restarting`,
      );
      void consumer
        .disconnect()
        .catch(() => undefined)
        .then(() => (this.starting = this.restart(1)));
    });
    if (this.options.createTopicPartitions) {
      const admin = this.kafka.admin();
      await admin.connect();
      try {
        await ensureTopics(admin, [
          { topic: this.options.topic, numPartitions: this.options.createTopicPartitions },
        ]);
      } finally {
        await admin.disconnect();
      }
    }
    await consumer.connect();
    await consumer.subscribe({ topic: this.options.topic, fromBeginning: this.options.fromBeginning });
    await consumer.run({
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachMessage: this.options.eachMessage,
    });
  }

  /** Starts now if it can, else keeps trying in the background: for consumers the app can serve without. */
  startInBackground(): void {
    this.starting = this.restart(0);
  }

  /** Keeps trying, with backoff, until the consumer runs again or is stopped. */
  private async restart(attempt: number): Promise<void> {
    if (attempt > 0)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(30_000, 1000 * 2 ** (attempt - 1)));
        // stop() cuts the backoff short.
        this.wakeFromBackoff = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    if (this.stopped) return;
    try {
      await this.start();
    } catch (error) {
      this.logger.error(`restart ${attempt} failed: ${(error as Error).message}; trying again`);
      await this.consumer?.disconnect().catch(() => undefined);
      if (!this.stopped) await this.restart(attempt + 1);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeFromBackoff?.();
    // A start still under way would otherwise leave a running consumer behind; a broker that does not
    // answer must not hold shutdown for long, though.
    await Promise.race([this.starting, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    await this.consumer?.disconnect();
  }
}
