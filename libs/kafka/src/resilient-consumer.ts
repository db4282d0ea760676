import { Logger } from '@nestjs/common';
import type { Consumer, ConsumerConfig, EachBatchPayload, EachMessagePayload, Kafka } from 'kafkajs';
import { ensureTopics } from './topic-provisioner';

export interface ResilientConsumerOptions {
  name: string;
  topic: string;
  consumer: ConsumerConfig;
  fromBeginning: boolean;
  partitionsConsumedConcurrently?: number;
  /**
   * Messages of one partition handled at once (default 1: one after another). Offsets are resolved
   * only up to the first message not yet handled, so a crash redelivers, never skips.
   */
  concurrencyPerPartition?: number;
  /** With concurrency per partition: how often handled offsets are committed (default 1000 ms). */
  commitIntervalMs?: number;
  /** Creates the topic with this many partitions if it is missing (when the app may create topics). */
  createTopicPartitions?: number;
  eachMessage: (payload: EachMessagePayload) => Promise<void>;
  /** Called on every join of the group (the first, and each after a rebalance or a restart). */
  onJoin?: () => void;
  /** Called once the consumer runs (also after each restart): e.g. to seek where reading starts. */
  onRunning?: (consumer: Consumer) => Promise<void> | void;
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
  private trailingCommit?: { payload: EachBatchPayload; timer: NodeJS.Timeout; commit: () => Promise<void> };
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
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.joined?.();
      this.options.onJoin?.();
    });
    // kafkajs often notices a rebalance in its own heartbeat, outside any batch: what was handled is
    // committed before the partitions go (the old generation is accepted while the group rebalances).
    consumer.on(consumer.events.REBALANCING, () => void this.trailingCommit?.commit());
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
    const concurrency = this.options.concurrencyPerPartition ?? 1;
    await consumer.run({
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      ...(concurrency > 1
        ? {
            // kafkajs would commit after every batch: one OffsetCommit per partition and fetch, queued on
            // the group coordinator (about 6 ms each on Kafka 4), and the next fetch waits for them all.
            // That alone put a bare consumer's median latency at ~45 ms; committing on an interval, ~3 ms.
            autoCommit: false,
            autoCommitInterval: this.options.commitIntervalMs ?? 1000,
            eachBatchAutoResolve: false,
            eachBatch: (payload) => this.handleBatch(payload, concurrency),
          }
        : { eachMessage: this.options.eachMessage }),
    });
    await this.options.onRunning?.(consumer);
  }

  /**
   * Handles a batch `concurrency` messages at a time. A message's offset is resolved once it and
   * every message before it were handled; on a failure the batch stops taking new messages, lets the
   * running ones finish, and throws, so kafkajs redelivers from the first unhandled message.
   */
  private async handleBatch(payload: EachBatchPayload, concurrency: number): Promise<void> {
    const { batch, resolveOffset, heartbeat, pause, isRunning, isStale } = payload;
    const { messages } = batch;
    const handled = new Array<boolean>(messages.length).fill(false);
    let next = 0;
    let resolved = 0;
    let failure: Error | undefined;
    const worker = async () => {
      while (next < messages.length && !failure && isRunning() && !isStale()) {
        const index = next++;
        try {
          await this.options.eachMessage({
            topic: batch.topic,
            partition: batch.partition,
            message: messages[index],
            heartbeat,
            pause,
          });
        } catch (error) {
          failure ??= error as Error;
          return;
        }
        handled[index] = true;
        while (resolved < messages.length && handled[resolved]) resolveOffset(messages[resolved++].offset);
        try {
          await heartbeat();
          // Commits as it goes (at most once per interval), so a crash redelivers little.
          await payload.commitOffsetsIfNecessary();
        } catch (error) {
          // A rebalance: stop taking messages, but let the ones in flight finish and publish.
          failure ??= error as Error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, worker));
    if (failure || !isRunning() || this.stopped) {
      // The partition may go to another member (a rebalance, a failure, a shutdown): hand it over with
      // everything handled committed. The generation is still valid while the group rebalances.
      await payload.commitOffsetsIfNecessary(payload.uncommittedOffsets()).catch((error: Error) => {
        this.logger.warn(`could not commit handled offsets before handing over: ${error.message}`);
      });
    } else this.commitLater(payload);
    if (failure) throw failure;
  }

  /** Once traffic stops no batch comes to commit the last handled offsets: a timer does. */
  private commitLater(payload: EachBatchPayload): void {
    // The latest batch's payload: after a restart, the one of the running consumer.
    if (this.trailingCommit) return void (this.trailingCommit.payload = payload);
    const pending = {
      payload,
      timer: setTimeout(() => void pending.commit(), this.options.commitIntervalMs ?? 1000),
      commit: async () => {
        clearTimeout(pending.timer);
        if (this.trailingCommit === pending) this.trailingCommit = undefined;
        const latest = pending.payload;
        if (!latest.isRunning()) return;
        await latest.commitOffsetsIfNecessary(latest.uncommittedOffsets()).catch((error: Error) => {
          this.logger.warn(`could not commit handled offsets: ${error.message}; trying again`);
          // Tried again while this member still runs; after a rebalance the new generation commits
          // its own (a fenced commit fails, and the next owner redelivers from the last one).
          if (!this.stopped) this.commitLater(latest);
        });
      },
    };
    pending.timer.unref();
    this.trailingCommit = pending;
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
      this.logger.error(
        `restart ${attempt} on ${this.options.topic} failed: ${(error as Error).message}; trying again`,
      );
      await this.consumer?.disconnect().catch(() => undefined);
      if (!this.stopped) await this.restart(attempt + 1);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeFromBackoff?.();
    // Idle, no batch will commit on the way out: what was handled is committed before leaving.
    await this.trailingCommit?.commit();
    // A start still under way would otherwise leave a running consumer behind; a broker that does not
    // answer must not hold shutdown for long, though.
    await Promise.race([this.starting, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    await this.consumer?.disconnect();
  }
}
