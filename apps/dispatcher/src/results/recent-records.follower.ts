import { Logger } from '@nestjs/common';
import type { Admin, Consumer, EachMessagePayload } from 'kafkajs';
import type { AppConfig } from '@lib/config';
import { MAX_CHALLENGE_TTL_MS } from '@lib/contracts';
import { createKafkaClient, readOffsetsOfNewTopic, ResilientConsumer } from '@lib/kafka';

/** A request older than its longest life can only expire; records further back cannot matter. */
const LOOKBACK_MS = MAX_CHALLENGE_TTL_MS + 60_000;
const CATCH_UP_TIMEOUT_MS = 60_000;
/**
 * How long `readToNow` waits, the measure of the topic's ends included, before its caller goes on
 * without it: a follower rejoining after a broker restart takes seconds.
 */
const READ_TO_NOW_TIMEOUT_MS = 30_000;

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
  /** Per partition: the offset after the last record read. */
  private readonly readTo = new Map<number, bigint>();
  /** Callers of `readToNow` waiting for partitions to be read up to these ends. */
  private endWaiters: { ends: Map<number, bigint>; done: () => void }[] = [];
  /** The next measurement of the topic's ends, shared by the callers that asked before it started. */
  private nextEnds?: Promise<Map<number, bigint>>;
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
      // Named after this replica, and every start reads from the lookback, not from its commits.
      deleteGroupOnStop: true,
    });
  }

  async start(): Promise<void> {
    await readOffsetsOfNewTopic(this.topic, () => this.measureLookback());
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

  /**
   * Resolves once every record the topic holds now was read (and learnt): true; or false after
   * `timeoutMs`, when the caller goes on without it.
   */
  async readToNow(timeoutMs = READ_TO_NOW_TIMEOUT_MS): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs).unref();
    });
    let waiter: { ends: Map<number, bigint>; done: () => void } | undefined;
    let over = false;
    const read = this.endsNow().then(
      (ends) =>
        this.hasRead(ends) ||
        (!over &&
          new Promise<boolean>((resolve) => {
            waiter = { ends, done: () => resolve(true) };
            this.endWaiters.push(waiter);
          })),
      (error: Error) => {
        this.logger.warn(`cannot read ${this.topic}'s offsets: ${error.message}`);
        return false;
      },
    );
    try {
      return await Promise.race([read, timedOut]);
    } finally {
      over = true;
      clearTimeout(timer);
      this.endWaiters = this.endWaiters.filter((other) => other !== waiter);
    }
  }

  private endsNow(): Promise<Map<number, bigint>> {
    // Shared only by callers that asked before it started: each needs ends measured after it asked.
    this.nextEnds ??= Promise.resolve().then(() => {
      this.nextEnds = undefined;
      return this.withAdmin(async (admin) => {
        const offsets = await admin.fetchTopicOffsets(this.topic);
        return new Map(offsets.map(({ partition, high }) => [partition, BigInt(high)]));
      });
    });
    return this.nextEnds;
  }

  private hasRead(ends: Map<number, bigint>): boolean {
    for (const [partition, end] of ends) {
      const readTo = this.readTo.get(partition) ?? BigInt(this.starts.get(partition) ?? '0');
      if (readTo < end) return false;
    }
    return true;
  }

  private async withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = createKafkaClient(this.config.kafka, '-follower-admin').admin();
    await admin.connect();
    try {
      return await use(admin);
    } finally {
      await admin.disconnect();
    }
  }

  /** Where each partition's recent records begin (at most `capacity` of them in all) and end. */
  private async measureLookback(): Promise<void> {
    this.starts.clear();
    this.remaining.clear();
    await this.withAdmin(async (admin) => {
      const ends = await admin.fetchTopicOffsets(this.topic);
      const since = await admin.fetchTopicOffsetsByTimestamp(this.topic, Date.now() - LOOKBACK_MS);
      const perPartition = BigInt(Math.ceil(this.config.dispatcher.dedupCapacity / ends.length));
      for (const { partition, high, low } of ends) {
        const byTime = BigInt(since.find((s) => s.partition === partition)?.offset ?? high);
        const start = [byTime, BigInt(high) - perPartition, BigInt(low)].reduce((a, b) => (a > b ? a : b));
        this.starts.set(partition, String(start));
        if (start < BigInt(high)) this.remaining.set(partition, BigInt(high));
      }
    });
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
    this.readTo.set(partition, BigInt(message.offset) + 1n);
    if (this.endWaiters.length > 0) {
      const ready = this.endWaiters.filter((waiter) => this.hasRead(waiter.ends));
      this.endWaiters = this.endWaiters.filter((waiter) => !ready.includes(waiter));
      for (const waiter of ready) waiter.done();
    }
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
