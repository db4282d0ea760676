import { Logger } from '@nestjs/common';
import type { Consumer, ConsumerConfig, EachBatchPayload, EachMessagePayload, Kafka } from 'kafkajs';
import { within } from '@lib/runtime';
import { PartitionWindow } from './partition-window';
import { ensureTopics, readOffsetsOfNewTopic } from './topic-provisioner';

/** What a handler gets: kafkajs's payload, and a way to wait without holding one of its partition's slots. */
export interface HandlerPayload extends EachMessagePayload {
  /**
   * Runs `wait` (a backoff) while the partition's next messages may use the handler's slot; see
   * `PartitionWindow.withoutSlot`. Without concurrency per partition there is no slot: it just waits.
   */
  withoutSlot: <T>(wait: () => Promise<T>) => Promise<T>;
}

export interface ResilientConsumerOptions {
  name: string;
  topic: string;
  consumer: ConsumerConfig;
  fromBeginning: boolean;
  partitionsConsumedConcurrently?: number;
  /**
   * Messages of one partition handled at once (default 1: one after another). Offsets are committed
   * only up to the first message not yet handled, so a crash redelivers, never skips.
   */
  concurrencyPerPartition?: number;
  /** With concurrency per partition: how often handled offsets are committed (default 1000 ms). */
  commitIntervalMs?: number;
  /**
   * With concurrency per partition: how long a partition this consumer did not hold waits before it is
   * read (default 0). Its previous owner may still be finishing messages it started before the
   * rebalance; their results reach the handler's bookkeeping meanwhile, so they are not handled twice.
   */
  handoverGraceMs?: number;
  /** Creates the topic with this many partitions if it is missing (when the app may create topics). */
  createTopicPartitions?: number;
  /**
   * How long after leaving its generation the consumer waits for the next join before it starts a new
   * consumer (default 120 s: a join takes no longer unless it failed).
   */
  rejoinLimitMs?: number;
  eachMessage: (payload: HandlerPayload) => Promise<void>;
  /**
   * Called on every join of the group (the first, and each after a rebalance or a restart), before
   * anything is fetched: the place to seek where reading starts. Not after `run()`: a join that fails
   * (a broker just started: "the coordinator is loading") makes kafkajs return from `run()` with no
   * group, restart on its own a moment later, and throw on a seek meanwhile.
   */
  onJoin?: (consumer: Consumer) => void;
  /**
   * Reading starts where each partition ends when `start()` is first called, whatever the group
   * committed: every message published from then on is read, none before; the caller loads the state
   * those messages change once `start()` has returned. `fromBeginning: false` alone starts at the end
   * as of the first fetch after the join, which comes later: a message published in between would be
   * in neither. Later joins go on from the commits (kafkajs commits a seek at once with autoCommit,
   * that is without concurrency per partition; with it, at the next commit of handled messages).
   */
  startAtEnds?: boolean;
  /**
   * The group is this process's own (a broadcast read by every replica): deleted once the consumer
   * has left it at stop, instead of waiting on the broker for offsets.retention.minutes (7 days).
   */
  deleteGroupOnStop?: boolean;
}

/** A handler's heartbeat once its partition went to another member: the message is that member's now. */
export class PartitionHandedOverError extends Error {
  constructor(at: string) {
    super(`${at} was handed over to another member of the group`);
  }
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
  /** With concurrency per partition: the messages in hand, per partition of the current generation. */
  private readonly windows = new Map<string, PartitionWindow>();
  /**
   * Partitions sought to read again after a failure, with no batch since: kafkajs applies a seek at
   * its next fetch of a partition it holds, and keeps one it could not apply for as long as its group
   * lives, to apply when that partition comes back, maybe much later and far behind its commit.
   */
  private readonly unappliedSeeks = new Set<string>();
  /** The partitions of the last join (`topic|partition`). */
  private assigned = new Set<string>();
  private commitTimer?: NodeJS.Timeout;
  private committing?: Promise<void>;
  /** Partitions gained at the last joins, until their hand-over grace ends (`topic|partition` → time). */
  private readonly handovers = new Map<string, number>();
  private handoverTimer?: NodeJS.Timeout;
  /**
   * Between leaving a generation (a rebalance, a crash) and the next join: nothing is taken. The
   * windows gave back what waited, and a batch taken now would let commits pass it.
   */
  private rejoining = false;
  /** Ends a wait for a join that does not come (see rejoinLimitMs). */
  private rejoinTimer?: NodeJS.Timeout;
  /** The generation of the last heartbeat the group accepted (`member/generation`): see HEARTBEAT. */
  private lastGeneration?: string;
  /** Heartbeats of that same generation the group accepted since leaving it. */
  private heartbeatsInLeftGeneration = 0;
  /** Batches finishing their messages before they let kafkajs rejoin (heartbeatOrHandOver). */
  private draining = 0;
  /** Set by a CRASH kafkajs restarts from until its join: disconnecting it then can leave it running (kafkajs#1639). */
  private kafkajsRestarting = false;
  /** A consumer being replaced: once is enough, and its events no longer count. */
  private replaced?: Consumer;
  /** Consecutive failures per partition, for the redelivery backoff. */
  private readonly failedAttempts = new Map<string, number>();
  /** Resolves the first time the consumer has joined its group. */
  readonly ready: Promise<void>;
  /** With startAtEnds: where each partition ended at the first start, until the first join seeks there. */
  private startAt?: Map<number, string>;
  private started = false;
  /** Whether any consumer of this one ever joined its group (so there is a group to delete). */
  private everJoined = false;

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
    // A new consumer reads from the committed offsets: what the last one had in hand comes again, and
    // the handler's own bookkeeping (the challenge ledger) answers it. Its pauses went with it.
    this.dropWindows(() => true, { resume: false });
    this.unappliedSeeks.clear();
    this.assigned = new Set();
    this.joinedAgain();
    this.replaced = undefined;
    this.kafkajsRestarting = false;
    this.lastGeneration = undefined;
    this.handovers.clear();
    clearTimeout(this.handoverTimer);
    let memberId: string | undefined;
    // Events of a consumer being replaced (it may still be leaving) no longer count.
    const current = () => this.consumer === consumer && this.replaced !== consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (!current()) return;
      // kafkajs reads every partition again from its last commit from here on.
      this.kafkajsRestarting = false;
      // Its generation is known from its first heartbeat.
      this.lastGeneration = undefined;
      this.joinedAgain();
      const assigned = new Set(
        Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) =>
          partitions.map((partition) => partitionKey(topic, partition)),
        ),
      );
      // A new member id (kafkajs restarted itself, or the group forgot us): others may have held our
      // partitions meanwhile, so nothing counts as kept.
      if (memberId !== undefined && payload.memberId !== memberId) {
        this.dropWindows(() => true);
        this.assigned = new Set();
      }
      const strandedSeek = [...this.unappliedSeeks].find((key) => !assigned.has(key));
      if (strandedSeek !== undefined) {
        // Applied when the partition comes back, it would read again what its next owners handled.
        void this.replace(
          consumer,
          `a seek of ${strandedSeek} was not applied before the partition went to another member`,
        );
        return;
      }
      memberId = payload.memberId;
      this.holdGained(assigned);
      this.assigned = assigned;
      // Partitions kept keep their window (kafkajs reads again from the last commit, and the window
      // skips what it has in hand); those that went are forgotten, their new owner reads them again.
      this.dropWindows((key) => !assigned.has(key));
      this.joined?.();
      this.everJoined = true;
      this.seekToStart(consumer, assigned);
      this.options.onJoin?.(consumer);
    });
    // kafkajs often notices a rebalance in its own heartbeat, outside any batch: what was handled is
    // committed before the partitions go (the old generation is accepted while the group rebalances).
    consumer.on(consumer.events.REBALANCING, () => {
      if (!current()) return;
      this.leaveGeneration();
      this.heartbeatsInLeftGeneration = 0;
      void this.commitHandled();
    });
    // Heartbeats the group accepts in the generation this consumer left mean kafkajs went on in it
    // without joining: its rejoin failed with an error it does not retry as a rejoin (after a broker
    // restart, "the coordinator is loading") and its retry fetched on, in the group the broker had
    // reloaded as it was. It reads on from where it stood, so what the windows gave back would never be
    // read again, and no GROUP_JOIN comes. The first may answer a heartbeat sent before the rebalance;
    // those of a new generation (a join under way) do not count, nor those while a batch finishes its
    // messages before letting kafkajs rejoin. A consumer that left within a heartbeat interval of its
    // join saw none: the first after leaving stands for its generation (then a join under way could
    // be taken for it, at the cost of a needless new consumer).
    consumer.on(consumer.events.HEARTBEAT, ({ payload }) => {
      if (!current()) return;
      const generation = `${payload.memberId}/${payload.groupGenerationId}`;
      if (!this.rejoining) this.lastGeneration = generation;
      else if (this.draining > 0) return;
      else if ((this.lastGeneration ??= generation) === generation && ++this.heartbeatsInLeftGeneration >= 2)
        void this.startAfresh('kafkajs went on in its old generation without joining the group again');
    });
    // Also a batch of only control records or aborted messages, which never reaches eachBatch.
    consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
      if (current()) this.unappliedSeeks.delete(partitionKey(payload.topic, payload.partition));
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!current()) return;
      // Out of the group until kafkajs (or we) start again: whoever holds the partitions then reads them.
      // Handlers stop at their next heartbeat (kafkajs's own succeeds without a group), and nothing
      // handled now could be committed.
      this.leaveGeneration();
      this.dropWindows(() => true, { resume: false });
      // kafkajs restarts with a group of its own (we, with a consumer of our own): the seeks went with
      // it. A new member id alone says nothing of them: after an eviction kafkajs rejoins in the same group.
      this.unappliedSeeks.clear();
      if (payload.restart || this.stopped) {
        this.kafkajsRestarting = !this.stopped;
        return;
      }
      void this.replace(
        consumer,
        `consumer crashed and kafkajs will not restart it: ${payload.error.message}`,
      );
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
    // Once: a consumer started again after a crash goes on from the commits (or from this, not yet sought).
    if (this.options.startAtEnds && !this.started) this.startAt = await this.measureEnds();
    this.started = true;
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
            eachBatchAutoResolve: false,
            eachBatch: (payload) => this.startBatch(payload, concurrency),
          }
        : { eachMessage: (payload) => this.options.eachMessage({ ...payload, withoutSlot: waitNow }) }),
    });
    if (concurrency > 1) {
      clearInterval(this.commitTimer);
      this.commitTimer = setInterval(() => void this.commitHandled(), this.options.commitIntervalMs ?? 1000);
      this.commitTimer.unref();
    }
  }

  /**
   * Hands the batch's messages to their partition's window (`concurrency` running, the rest waiting
   * for a slot) and returns at once: kafkajs fetches again only when every batch of a fetch returned, so
   * waiting for messages to finish would hold every request behind the slowest push of the previous
   * fetch. Fetch positions move on as the window takes messages; committed offsets only as they finish.
   */
  private async startBatch(payload: EachBatchPayload, concurrency: number): Promise<void> {
    const { batch, resolveOffset, heartbeat, pause, isRunning, isStale } = payload;
    // A batch fetched before a rejoin, of a partition that went meanwhile: its new owner reads it.
    const key = partitionKey(batch.topic, batch.partition);
    if (!this.assigned.has(key)) return;
    // A consumer being replaced (still leaving the group): the new one reads from the commits.
    if (this.replaced === this.consumer) return this.skipUntilJoined();
    // Fetched after the partition was sought (it stayed paused until then): the seek was applied.
    this.unappliedSeeks.delete(key);
    if (this.rejoining) return this.skipUntilJoined();
    // Fetched before the pause of a hand-over took effect: nothing resolved, it is read again after.
    if (this.handovers.has(key)) {
      pause();
      return;
    }
    const window = this.windowFor(batch.topic, batch.partition, concurrency);
    // Waiting to read again after a failure; kafkajs restarting itself forgets pauses.
    if (window.failure) {
      pause();
      return;
    }
    for (const message of batch.messages) {
      if (window.failure || window.dropped || !isRunning() || isStale() || this.stopped) break;
      // Waiting here for room would hold kafkajs's next fetch, and so every other partition, behind this
      // one's slowest message: this partition pauses instead, and is read again from here once it has room.
      if (window.full) {
        this.pauseUntilRoom(window, pause);
        break;
      }
      window.accept(message.offset, () =>
        this.options.eachMessage({
          topic: batch.topic,
          partition: batch.partition,
          message,
          heartbeat: () => this.heartbeatWhileHeld(window, message.offset, heartbeat),
          pause,
          withoutSlot: (wait) => window.withoutSlot(wait),
        }),
      );
      // Taken now, or already in hand: either way reading moves on.
      resolveOffset(message.offset);
    }
    await this.heartbeatOrHandOver(heartbeat);
  }

  /** Pauses the window's partition until it holds no more than half of what makes it full. */
  private pauseUntilRoom(window: PartitionWindow, pause: () => void): void {
    // A batch fetched before the pause took effect: the pause is already there.
    if (window.waitingForRoom) return;
    window.waitingForRoom = true;
    pause();
    void (async () => {
      while (!window.hasRoom && !window.failure && !window.dropped) await window.settledOnce();
      window.waitingForRoom = false;
      const { topic, partition } = window;
      // After a failure its redelivery reads the partition again; a dropped one went to another member,
      // or comes back resumed (dropWindows); a hand-over's end resumes it.
      if (
        window.failure ||
        window.dropped ||
        this.stopped ||
        this.handovers.has(partitionKey(topic, partition))
      )
        return;
      this.tryOnConsumer(`resume ${topic}[${partition}]`, () =>
        this.consumer?.resume([{ topic, partitions: [partition] }]),
      );
    })();
  }

  /**
   * A handler's heartbeat. Once its partition went to another member, it fails: after the rejoin
   * kafkajs's heartbeat succeeds again, and a handler retrying between heartbeats would go on while
   * the new owner, after its hand-over grace, handles the same message.
   */
  private heartbeatWhileHeld(
    window: PartitionWindow,
    offset: string,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    if (!window.dropped) return heartbeat();
    const at = `${window.topic}[${window.partition}]@${offset}`;
    // A handler waiting on a send still under way heartbeats every second and goes on: one line is enough.
    if (!window.leftToNewOwner.has(offset)) {
      window.leftToNewOwner.add(offset);
      this.logger.warn(`${at}: the partition went to another member; leaving this message to it`);
    }
    return Promise.reject(new PartitionHandedOverError(at));
  }

  private async heartbeatOrHandOver(heartbeat: () => Promise<void>): Promise<void> {
    try {
      await heartbeat();
    } catch (error) {
      if (!leavesTheGeneration(error)) throw error;
      // A rebalance: the partitions are handed over with everything running finished and committed,
      // unless that outlasts what the group waits for this member (it would be evicted).
      this.leaveGeneration();
      // kafkajs rejoins once this batch throws: until then heartbeats of this generation are expected.
      this.draining++;
      const drained = Promise.all([...this.windows.values()].map((w) => w.drained()));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        drained,
        new Promise((resolve) => (timer = setTimeout(resolve, HANDOVER_DRAIN_LIMIT_MS))),
      ]);
      clearTimeout(timer);
      this.draining--;
      await this.commitHandled();
      throw error;
    }
  }

  /**
   * The group is rebalancing, or this member left it: no waiting message starts now, and none is
   * taken until the next join. They stay uncommitted and are read again then, by whoever holds their
   * partition; the messages running finish.
   */
  private leaveGeneration(): void {
    if (!this.rejoining && !this.stopped) {
      this.heartbeatsInLeftGeneration = 0;
      // Also without any batch to notice it by: with nothing new produced, none comes.
      this.armRejoinTimer();
    }
    this.rejoining = true;
    for (const window of this.windows.values()) window.giveBackWaiting();
  }

  private armRejoinTimer(): void {
    clearTimeout(this.rejoinTimer);
    this.rejoinTimer = setTimeout(
      () => void this.startAfresh(`not joined again ${this.rejoinLimitMs / 1000} s after leaving the group`),
      this.rejoinLimitMs,
    ).unref();
  }

  /** The end of each partition of the topic now (its high watermark). */
  private async measureEnds(): Promise<Map<number, string>> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const ends = await readOffsetsOfNewTopic(this.options.topic, () =>
        admin.fetchTopicOffsets(this.options.topic),
      );
      return new Map(ends.map(({ partition, high }) => [partition, high]));
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * With startAtEnds, at the first join: reading starts where the partitions ended at the first start
   * (meant for a group of one member; partitions another member holds go on from the commits).
   */
  private seekToStart(consumer: Consumer, assigned: Set<string>): void {
    if (!this.startAt) return;
    for (const [partition, offset] of this.startAt)
      if (assigned.has(partitionKey(this.options.topic, partition)))
        consumer.seek({ topic: this.options.topic, partition, offset });
    this.startAt = undefined;
  }

  private joinedAgain(): void {
    this.rejoining = false;
    clearTimeout(this.rejoinTimer);
  }

  private get rejoinLimitMs(): number {
    return this.options.rejoinLimitMs ?? REJOIN_LIMIT_MS;
  }

  /**
   * A batch while the group is left: nothing is resolved, kafkajs reads it again after the join (a
   * join that never comes is ended by the rejoin timer).
   */
  private async skipUntilJoined(): Promise<void> {
    // The same batch comes back at once: not in a tight loop.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  /** Replaces a consumer whose group membership went wrong: the new one reads from the last commits. */
  private async startAfresh(why: string): Promise<void> {
    const consumer = this.consumer;
    const stillDue = () =>
      this.rejoining && this.consumer === consumer && this.replaced !== consumer && !this.stopped;
    if (!consumer || !stillDue()) return;
    // kafkajs restarting itself is joining: disconnecting it now could leave it running (kafkajs#1639).
    if (this.kafkajsRestarting) return this.armRejoinTimer();
    // The generation it went on in still takes commits: what was handled is not handled again.
    await this.commitHandled();
    // The commit can take a request timeout: a join or a crash kafkajs restarts from may have come.
    if (!stillDue()) return;
    if (this.kafkajsRestarting) return this.armRejoinTimer();
    await this.replace(consumer, why);
  }

  /** Disconnects `consumer` and starts a new one, once per consumer. */
  private async replace(consumer: Consumer, why: string): Promise<void> {
    if (this.replaced === consumer || this.stopped) return;
    this.replaced = consumer;
    clearTimeout(this.rejoinTimer);
    // Its handlers stop at their next heartbeat: the partitions go to whoever joins, maybe not us.
    this.dropWindows(() => true, { resume: false });
    this.logger.error(`${why}; starting a new consumer, which reads again from the last commits`);
    await consumer.disconnect().catch(() => undefined);
    this.starting = this.restart(1);
  }

  /**
   * Pauses the partitions this consumer did not hold before the join for the hand-over grace, then
   * resumes those it still holds. The first join counts: in a rolling deploy, the other replicas'
   * partitions come to a new process with their messages in flight.
   */
  private holdGained(assigned: Set<string>): void {
    const grace = this.options.handoverGraceMs ?? 0;
    if (grace <= 0 || (this.options.concurrencyPerPartition ?? 1) <= 1) return;
    const until = Date.now() + grace;
    for (const key of assigned) if (!this.assigned.has(key)) this.handovers.set(key, until);
    for (const key of this.handovers.keys()) if (!assigned.has(key)) this.handovers.delete(key);
    const held = [...this.handovers.keys()];
    if (held.length === 0) return;
    this.tryOnConsumer('pause for the hand-over', () => this.consumer?.pause(topicPartitions(held)));
    this.scheduleHandoverEnd();
  }

  /** At the earliest end of a grace still running. */
  private scheduleHandoverEnd(): void {
    clearTimeout(this.handoverTimer);
    if (this.handovers.size === 0) return;
    const next = Math.min(...this.handovers.values()) - Date.now();
    this.handoverTimer = setTimeout(() => this.endHandovers(), Math.max(0, next));
    this.handoverTimer.unref();
  }

  private endHandovers(): void {
    const now = Date.now();
    const ended = [...this.handovers].filter(([, until]) => until <= now).map(([key]) => key);
    for (const key of ended) this.handovers.delete(key);
    const resumed = ended.filter((key) => this.assigned.has(key));
    if (resumed.length > 0 && !this.stopped)
      this.tryOnConsumer('resume after the hand-over', () => this.consumer?.resume(topicPartitions(resumed)));
    this.scheduleHandoverEnd();
  }

  private windowFor(topic: string, partition: number, concurrency: number): PartitionWindow {
    const key = partitionKey(topic, partition);
    let window = this.windows.get(key);
    if (!window) {
      window = new PartitionWindow(topic, partition, concurrency, (failed) =>
        this.redeliverAfterFailure(failed),
      );
      this.windows.set(key, window);
    }
    return window;
  }

  /**
   * A message failed: its partition stops (paused), lets the messages in flight finish, commits what
   * was handled, and after a backoff reads again from the first message not handled.
   */
  private redeliverAfterFailure(window: PartitionWindow): void {
    const consumer = this.consumer;
    // A forgotten window's partition is read again from the last commit by whoever has it now.
    if (window.dropped || window.redeliveryScheduled || !consumer) return;
    window.redeliveryScheduled = true;
    const { topic, partition } = window;
    const key = partitionKey(topic, partition);
    this.tryOnConsumer(`pause ${topic}[${partition}]`, () =>
      consumer.pause([{ topic, partitions: [partition] }]),
    );
    const attempt = (this.failedAttempts.get(key) ?? 0) + 1;
    this.failedAttempts.set(key, attempt);
    const delayMs = Math.min(30_000, 500 * 2 ** (attempt - 1));
    void window.drained().then(async () => {
      await this.commitHandled();
      const from = window.firstUnhandled;
      const { offset, error } = window.failure!;
      this.logger.warn(
        `${topic}[${partition}]@${offset} failed: ${error.message}; reading again from offset ${from} in ${delayMs} ms`,
      );
      const readAgain = () => {
        if (window.dropped || this.consumer !== consumer || this.stopped) return;
        // A seek now might outlive this member's hold on the partition: after the join, if it kept it.
        if (this.rejoining) {
          window.redeliveryTimer = setTimeout(readAgain, 1000).unref();
          return;
        }
        const done = this.tryOnConsumer(`read ${topic}[${partition}] again`, () => {
          if (from !== undefined) {
            consumer.seek({ topic, partition, offset: from });
            this.unappliedSeeks.add(key);
          }
          consumer.resume([{ topic, partitions: [partition] }]);
        });
        if (done) {
          window.dropped = true;
          this.windows.delete(key);
          // kafkajs between a crash and its own restart has no group to seek in: a second later.
        } else window.redeliveryTimer = setTimeout(readAgain, 1000).unref();
      };
      window.redeliveryTimer = setTimeout(readAgain, delayMs).unref();
    });
  }

  /** kafkajs throws on pause, resume and seek while it restarts its consumer; false if it did. */
  private tryOnConsumer(what: string, action: () => void): boolean {
    try {
      action();
      return true;
    } catch (error) {
      this.logger.warn(`could not ${what}: ${(error as Error).message}`);
      return false;
    }
  }

  /** Commits, per partition, the offsets whose messages (and every one before them) were handled. */
  private commitHandled(): Promise<void> {
    // One commit at a time; a call meanwhile commits after it, with what was handled by then.
    const previous = this.committing ?? Promise.resolve();
    const commit = previous.then(async () => {
      const consumer = this.consumer;
      const due = [...this.windows.values()]
        .map((window) => ({ window, offset: window.takeCommittable() }))
        .filter((entry): entry is { window: PartitionWindow; offset: string } => entry.offset !== undefined);
      if (!consumer || due.length === 0) return;
      try {
        await consumer.commitOffsets(
          due.map(({ window, offset }) => ({ topic: window.topic, partition: window.partition, offset })),
        );
        for (const { window, offset } of due) {
          window.committedAt(offset);
          if (!window.failure) this.failedAttempts.delete(partitionKey(window.topic, window.partition));
        }
      } catch (error) {
        // Tried again on the next interval while this member runs; after a rebalance the new owner
        // reads from the last commit that landed, and the handler answers what comes again.
        this.logger.warn(`could not commit handled offsets: ${(error as Error).message}`);
      }
    });
    this.committing = commit;
    return commit;
  }

  /**
   * Forgets the windows of the partitions `goes` names: their messages still finish, but nothing
   * commits them. With `resume`, a partition paused after a failure is resumed (pauses outlive a
   * rejoin), in case it comes back.
   */
  private dropWindows(goes: (key: string) => boolean, { resume } = { resume: true }): void {
    for (const [key, window] of this.windows) {
      if (!goes(key)) continue;
      window.dropped = true;
      this.windows.delete(key);
      clearTimeout(window.redeliveryTimer);
      if (resume && (window.redeliveryScheduled || window.waitingForRoom) && this.consumer) {
        const consumer = this.consumer;
        const { topic, partition } = window;
        this.tryOnConsumer(`resume ${topic}[${partition}]`, () =>
          consumer.resume([{ topic, partitions: [partition] }]),
        );
      }
    }
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
    clearTimeout(this.handoverTimer);
    clearTimeout(this.rejoinTimer);
    // Nothing new is fetched (a batch arriving now would not be started), what is in flight finishes,
    // and everything handled is committed, before the partitions go.
    const consumer = this.consumer;
    if (consumer && this.windows.size > 0)
      this.tryOnConsumer('pause before stopping', () => consumer.pause([{ topic: this.options.topic }]));
    // What waits for a slot stays uncommitted: another replica reads it.
    this.leaveGeneration();
    // Committing goes on meanwhile: a handler held past the app's shutdown grace (a send that outlived
    // its timeout waits for its answer) must not leave uncommitted all the others finished, for the
    // next owner to handle again.
    await Promise.all([...this.windows.values()].map((window) => window.drained()));
    clearInterval(this.commitTimer);
    await this.commitHandled();
    // A start still under way would otherwise leave a running consumer behind; a broker that does not
    // answer must not hold shutdown for long, though.
    await Promise.race([this.starting, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    await this.consumer?.disconnect();
    if (this.options.deleteGroupOnStop) await this.deleteGroup();
  }

  /** Best effort, briefly: a group left behind is only clutter, which the broker expires itself. */
  private async deleteGroup(): Promise<void> {
    const { groupId } = this.options.consumer;
    // Never joined (Kafka away all along): there is nothing to delete, and no broker to ask.
    if (!this.everJoined) return;
    const admin = this.kafka.admin();
    // Settles either way (an error is its outcome); disconnected once it does: disconnecting while it
    // still retries would leave a connection behind.
    const deletion = admin.connect().then(
      () =>
        admin.deleteGroups([groupId]).then(
          () => 'deleted' as const,
          (error: Error) => error,
        ),
      (error: Error) => error,
    );
    void deletion.then(() => admin.disconnect().catch(() => undefined));
    const outcome = (await within(deletion, GROUP_DELETION_LIMIT_MS)) ?? new Error('no answer within 5 s');
    if (outcome === 'deleted') return;
    // kafkajs names each group's own error apart (a member still in it: NON_EMPTY_GROUP).
    const groups = (outcome as { groups?: { error?: Error & { type?: string } }[] }).groups ?? [];
    // Deleted already (a second stop, say).
    if (groups.length > 0 && groups.every((group) => group.error?.type === 'GROUP_ID_NOT_FOUND')) return;
    const why = [outcome.message, ...groups.map((group) => group.error?.message)];
    this.logger.warn(
      `consumer group ${groupId} not deleted (${why.filter(Boolean).join(': ')}); the broker expires it after offsets.retention.minutes`,
    );
  }
}

/**
 * Longer than a join can take unless it failed: the drain before leaving (HANDOVER_DRAIN_LIMIT_MS) and
 * a JoinGroup the group may hold for its rebalance timeout (kafkajs's default: 60 s).
 */
const REJOIN_LIMIT_MS = 120_000;
/** How long a stop waits for the broker to delete the consumer's own group (deleteGroupOnStop). */
const GROUP_DELETION_LIMIT_MS = 5000;
/** Below kafkajs's default rebalance timeout (60 s), past which the group evicts a member that has not rejoined. */
const HANDOVER_DRAIN_LIMIT_MS = 30_000;

/** kafkajs's rebalance errors (its own isRebalancing is not exported), and a member the group forgot. */
function leavesTheGeneration(error: unknown): boolean {
  const type = (error as { type?: string }).type;
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'NOT_COORDINATOR_FOR_GROUP' ||
    type === 'ILLEGAL_GENERATION' ||
    type === 'UNKNOWN_MEMBER_ID'
  );
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}|${partition}`;
}

/** Partition keys as kafkajs's pause and resume take them, by topic. */
function topicPartitions(keys: string[]): { topic: string; partitions: number[] }[] {
  const byTopic = new Map<string, number[]>();
  for (const key of keys) {
    const split = key.lastIndexOf('|');
    const topic = key.slice(0, split);
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), Number(key.slice(split + 1))]);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

/** One message at a time per partition: there is no slot to give up. */
function waitNow<T>(wait: () => Promise<T>): Promise<T> {
  return wait();
}
