/**
 * The messages of one partition in hand: started in offset order, finished in any order, committable
 * only in order. `committable` is the offset after the last message that, like every one before it,
 * was handled: what a crash may lose is what comes after it, and that is redelivered, never skipped.
 */
export class PartitionWindow {
  /** Started and not yet committable, in offset order. */
  private readonly entries: { offset: string; handled: boolean }[] = [];
  private running = 0;
  private highestStarted = -1n;
  private waiters: (() => void)[] = [];
  /** The offset to commit next, once it changed since the last commit (`takeCommittable`). */
  private committable?: string;
  private committed?: string;
  /** The first failure: the window takes no more messages, and redelivery starts at `firstUnhandled`. */
  failure?: { offset: string; error: Error };
  /** After a failure: the partition is paused until `redeliveryTimer` reads it again (or the window is dropped). */
  redeliveryScheduled = false;
  redeliveryTimer?: NodeJS.Timeout;
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

  get inFlight(): number {
    return this.running;
  }

  /**
   * No room for another message: `limit` running, or a first message so slow (retrying until it
   * expires) that `limit` × SPAN_LIMIT messages after it wait to be committed. That bounds what a crash
   * redelivers (the challenge ledger must still know those), at the cost of waiting for that message.
   */
  get full(): boolean {
    return this.running >= this.limit || this.entries.length >= this.limit * SPAN_LIMIT;
  }

  /** Where reading must start again to lose nothing: the first message not handled. */
  get firstUnhandled(): string | undefined {
    return this.entries.find((entry) => !entry.handled)?.offset ?? this.committable ?? this.committed;
  }

  /**
   * Runs the handler for the message at `offset`; its outcome is recorded, never thrown. Returns false,
   * starting nothing, for a message this window already has (kafkajs reads again from the committed
   * offset after a rejoin): the first start is running, or done.
   */
  start(offset: string, handle: () => Promise<void>): boolean {
    const position = BigInt(offset);
    if (position <= this.highestStarted) return false;
    this.highestStarted = position;
    const entry = { offset, handled: false };
    this.entries.push(entry);
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
      },
      (error: Error) => {
        const first = !this.failure;
        this.failure ??= { offset, error };
        this.settled();
        if (first) this.onFailure(this);
      },
    );
    return true;
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

/** Messages handled after a first one still running, per `limit`, before the window takes no more. */
const SPAN_LIMIT = 16;

function next(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}
