import { Logger } from '@nestjs/common';
import type { Consumer, EachMessagePayload } from 'kafkajs';
import type { AppConfig } from '@lib/config';
import { MAX_CHALLENGE_TTL_MS } from '@lib/contracts';
import { createKafkaClient, ResilientConsumer } from '@lib/kafka';

/** A request older than its longest life can only expire; records further back cannot matter. */
const LOOKBACK_MS = MAX_CHALLENGE_TTL_MS + 60_000;
const CATCH_UP_TIMEOUT_MS = 60_000;

/**
 * Follows a topic from its recent past, each replica in a consumer group of its own, and hands every
 * record to `learn`: after a crash, a replica restarted (or the one taking over the partitions of a dead
 * one) learns what was done before it. `caughtUp` resolves once the recent records are read.
 */
export class RecentRecordsFollower {
  private readonly logger: Logger;
  private readonly consumer: ResilientConsumer;
  /** Per partition: the offset reading starts at (every partition, so none starts at a later "latest"). */
  private readonly starts = new Map<number, string>();
  /** Per partition not yet read to its end: the end it must reach to be caught up. */
  private readonly remaining = new Map<number, bigint>();
  private markCaughtUp!: () => void;
  private isCaughtUp = false;
  readonly caughtUp = new Promise<void>((resolve) => (this.markCaughtUp = resolve));

  constructor(
    private readonly config: AppConfig,
    private readonly topic: string,
    /** What the consumer group's name ends with, before the replica id. */
    groupSuffix: string,
    /** What the records are, for the log. */
    private readonly what: string,
    private readonly learn: (payload: EachMessagePayload) => void,
  ) {
    this.logger = new Logger(`${RecentRecordsFollower.name}(${topic})`);
    this.consumer = new ResilientConsumer(createKafkaClient(config.kafka, `-${groupSuffix}`), {
      name: `${RecentRecordsFollower.name}(${groupSuffix})`,
      topic,
      consumer: {
        groupId: `${config.kafka.topicPrefix}${config.dispatcher.consumerGroup}-${groupSuffix}-${config.dispatcher.replicaId}`,
        sessionTimeout: config.kafka.sessionTimeoutMs,
        maxWaitTimeInMs: 100,
      },
      fromBeginning: false,
      eachMessage: async (payload) => this.onRecord(payload),
      onJoin: (consumer) => this.seekToLookback(consumer),
    });
  }

  async start(): Promise<void> {
    // A topic created a moment ago may have no leader yet: kafkajs's admin does not wait for one.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.measureLookback();
        break;
      } catch (error) {
        if (attempt >= 10)
          throw new Error(`cannot read ${this.topic}'s offsets: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
    await this.consumer.start();
    this.checkCaughtUp();
    // A lookback offset already deleted from the log (short retention) resets the consumer to the
    // latest offset, and the end is never seen: push requests must not wait for it forever.
    setTimeout(() => {
      if (this.isCaughtUp) return;
      this.logger.error(
        `recent ${this.what} not read within ${CATCH_UP_TIMEOUT_MS / 1000} s; taking push requests anyway (a redelivered request may be pushed twice)`,
      );
      this.remaining.clear();
      this.checkCaughtUp();
    }, CATCH_UP_TIMEOUT_MS).unref();
  }

  async stop(): Promise<void> {
    await this.consumer.stop();
  }

  /** Where each partition's recent records begin (at most `capacity` of them in all) and end. */
  private async measureLookback(): Promise<void> {
    this.starts.clear();
    this.remaining.clear();
    const admin = createKafkaClient(this.config.kafka, '-follower-admin').admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(this.topic);
      const since = await admin.fetchTopicOffsetsByTimestamp(this.topic, Date.now() - LOOKBACK_MS);
      const perPartition = BigInt(Math.ceil(this.config.dispatcher.dedupCapacity / ends.length));
      for (const { partition, high, low } of ends) {
        const byTime = BigInt(since.find((s) => s.partition === partition)?.offset ?? high);
        const start = [byTime, BigInt(high) - perPartition, BigInt(low)].reduce((a, b) => (a > b ? a : b));
        this.starts.set(partition, String(start));
        if (start < BigInt(high)) this.remaining.set(partition, BigInt(high));
      }
    } finally {
      await admin.disconnect();
    }
    let toRead = 0n;
    for (const [partition, end] of this.remaining) toRead += end - BigInt(this.starts.get(partition)!);
    this.logger.log(`reading ${toRead} recent ${this.what} before taking push requests`);
  }

  private seekToLookback(consumer: Consumer): void {
    // Once caught up, a consumer that joins again goes on from its committed offsets instead.
    if (this.isCaughtUp) return;
    for (const [partition, offset] of this.starts) consumer.seek({ topic: this.topic, partition, offset });
  }

  private onRecord(payload: EachMessagePayload): void {
    this.learn(payload);
    const { partition, message } = payload;
    const end = this.remaining.get(partition);
    if (end !== undefined && BigInt(message.offset) + 1n >= end) {
      this.remaining.delete(partition);
      this.checkCaughtUp();
    }
  }

  private checkCaughtUp(): void {
    if (this.remaining.size > 0 || this.isCaughtUp) return;
    this.isCaughtUp = true;
    this.markCaughtUp();
  }
}
