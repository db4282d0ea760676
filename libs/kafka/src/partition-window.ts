/** A message in hand: waiting for a slot (`handle` set), running, or handled. */
interface Entry {
  offset: string;
  handled: boolean;
  handle?: () => Promise<void>;
}

/**
 * The messages of one partition in hand: accepted in offset order, run `limit` at a time in that order
 * (one waiting out a backoff gives its slot up meanwhile), finished in any order, committable only in
 * order. `committable` is the offset after the last message that, like every one before it, was
 * handled: what a crash may lose is what comes after it, and that is redelivered, never skipped.
 * Messages waiting for a slot are kept, so a fetched batch is read once.
 */
export class PartitionWindow {
  /** Accepted and not yet committable, in offset order: handled, running, then waiting. */
  private readonly entries: Entry[] = [];
  /** The tail of `entries` not started yet, in offset order. */
  private waiting: Entry[] = [];
  /** Started and not finished, `idle` of them waiting without a slot (see `withoutSlot`). */
  private running = 0;
  private idle = 0;
  /** Idle handlers done waiting, in the order they asked for a slot back. */
  private resuming: (() => void)[] = [];
  private highestAccepted = -1n;
  private waiters: (() => void)[] = [];
  /** The offset to commit next, once it changed since the last commit (`takeCommittable`). */
  private committable?: string;
  private committed?: string;
  /** The first failure: the window starts no more messages, and redelivery starts at `firstUnhandled`. */
  failure?: { offset: string; error: Error };
  /** After a failure: the partition is paused until `redeliveryTimer` reads it again (or the window is dropped). */
  redeliveryScheduled = false;
  redeliveryTimer?: NodeJS.Timeout;
  /** Full: the partition is paused until enough of what the window holds is handled. */
  waitingForRoom = false;
  /** Forgotten (the partition went, or the consumer was replaced): its messages finish, nothing commits them. */
  dropped = false;
  /** Once dropped: the messages whose handler was told so (each is logged once). */
  readonly leftToNewOwner = new Set<string>();

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly limit: number,
    private readonly onFailure: (window: PartitionWindow) => void,
  ) {}

  /** Started and not finished, waiting without a slot or not. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Takes no more messages: `limit` × SPAN_LIMIT in hand behind the oldest one not handled (a backlog
   * waiting for slots, or a first message so slow, retrying until it expires, that the rest finished
   * behind it). That bounds what a crash redelivers (the challenge ledger must still know those) and
   * what a partition holds in memory, at the cost of this partition waiting.
   */
  get full(): boolean {
    return this.entries.length >= this.limit * SPAN_LIMIT;
  }

  /** Room again once no more than half of that is in hand: the next fetch then brings a batch worth reading. */
  get hasRoom(): boolean {
    return this.entries.length <= (this.limit * SPAN_LIMIT) / 2;
  }

  /** Where reading must start again to lose nothing: the first message not handled. */
  get firstUnhandled(): string | undefined {
    return this.entries.find((entry) => !entry.handled)?.offset ?? this.committable ?? this.committed;
  }

  /**
   * Takes the message at `offset`: it runs now if one of `limit` slots is free, else once one is; its
   * outcome is recorded, never thrown. Returns false, taking nothing, for a message this window already
   * has (kafkajs reads again from the committed offset after a rejoin): it is waiting, running, or done.
   */
  accept(offset: string, handle: () => Promise<void>): boolean {
    const position = BigInt(offset);
    if (position <= this.highestAccepted) return false;
    this.highestAccepted = position;
    const entry: Entry = { offset, handled: false, handle };
    this.entries.push(entry);
    this.waiting.push(entry);
    this.startWaiting();
    return true;
  }

  /**
   * Starts nothing more of what waits, and forgets it: reading again from the last commit (after a
   * rebalance, here or at the partition's next owner) brings it back.
   */
  giveBackWaiting(): void {
    const [first] = this.waiting;
    if (!first) return;
    this.entries.splice(this.entries.indexOf(first));
    this.waiting = [];
    this.highestAccepted = BigInt(first.offset) - 1n;
  }

  /**
   * Runs `wait` (a backoff, a provider's Retry-After) without holding one of the `limit` slots: a
   * message that only waits must not keep the ones behind it from starting. It still counts as in hand
   * (it holds back commits; a hand-over waits for it), and takes a slot back, ahead of the messages
   * waiting for one, before it goes on.
   */
  async withoutSlot<T>(wait: () => Promise<T>): Promise<T> {
    this.idle++;
    this.startWaiting();
    let result: T;
    try {
      result = await wait();
    } catch (error) {
      // Its handler ends: failing takes no slot.
      this.idle--;
      throw error;
    }
    // Still `limit` at a time after a failure or a hand-over: the handlers holding slots finish, and
    // each one that does hands its slot to the first one waiting here.
    if (this.running - this.idle < this.limit) this.idle--;
    else await new Promise<void>((resume) => this.resuming.push(resume));
    return result;
  }

  private startWaiting(): void {
    while (this.running - this.idle < this.limit) {
      const resume = this.resuming.shift();
      if (resume) {
        this.idle--;
        resume();
        continue;
      }
      if (this.failure || this.dropped) return;
      const entry = this.waiting.shift();
      if (!entry) return;
      const handle = entry.handle!;
      entry.handle = undefined;
      this.run(entry, handle);
    }
  }

  private run(entry: Entry, handle: () => Promise<void>): void {
    this.running++;
    let handling: Promise<void>;
    try {
      handling = handle();
    } catch (error) {
      // A handler that throws before its first await fails like one that rejects.
      handling = Promise.reject(error as Error);
    }
    handling.then(
      () => {
        entry.handled = true;
        while (this.entries[0]?.handled) this.committable = next(this.entries.shift()!.offset);
        this.settled();
        this.startWaiting();
      },
      (error: Error) => {
        const first = !this.failure;
        this.failure ??= { offset: entry.offset, error };
        this.settled();
        // Nothing new starts now, but a handler done waiting without its slot goes on.
        this.startWaiting();
        if (first) this.onFailure(this);
      },
    );
  }

  /** Resolves when a message finishes (room for one more, or a failure to look at). */
  settledOnce(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves once nothing is in flight. */
  async drained(): Promise<void> {
    while (this.running > 0) await this.settledOnce();
  }

  /** The offset to commit if it moved since the last commit; `committedAt` confirms it. */
  takeCommittable(): string | undefined {
    return this.committable !== this.committed ? this.committable : undefined;
  }

  committedAt(offset: string): void {
    this.committed = offset;
  }

  private settled(): void {
    this.running--;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Messages in hand behind the oldest one not handled, per `limit`, before the window takes no more. */
const SPAN_LIMIT = 16;

function next(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}
