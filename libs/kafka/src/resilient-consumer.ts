import { Logger } from '@nestjs/common';
import type { Consumer, ConsumerConfig, EachMessagePayload, Kafka } from 'kafkajs';

export interface ResilientConsumerOptions {
  name: string;
  topic: string;
  consumer: ConsumerConfig;
  fromBeginning: boolean;
  partitionsConsumedConcurrently?: number;
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
        .then(() => new Promise((resolve) => setTimeout(resolve, 1000)))
        .then(() => (this.stopped ? undefined : this.start()))
        .catch((error: Error) => this.logger.error(`restart failed: ${error.message}`));
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.options.topic, fromBeginning: this.options.fromBeginning });
    await consumer.run({
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachMessage: this.options.eachMessage,
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumer?.disconnect();
  }
}
