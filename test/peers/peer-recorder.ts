/** What DeliveryRecorder needs to know about the peer it records for. */
export interface DeliveryRecorderOptions<T> {
  /** The peer's name, leading the errors waitForDeliveries rejects with. */
  peer: string;
  /** What the recorded requests are called in the timeout error ('requests', 'sends'). */
  unit: string;
  /** Which recorded requests count as delivered; default: those answered 200. */
  isDelivered?: (delivery: T) => boolean;
  /** Appended to the timeout error, read when it fires (state the peer keeps beside the requests). */
  detail?: () => string;
}

interface Waiter<T> {
  count: number;
  resolve: (deliveries: T[]) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** The requests a peer received, and tests waiting for enough of them to be delivered. */
export class DeliveryRecorder<T extends { status: number }> {
  /** Every request, in arrival order. */
  received: T[] = [];

  private waiters: Waiter<T>[] = [];
  private readonly isDelivered: (delivery: T) => boolean;

  constructor(private readonly options: DeliveryRecorderOptions<T>) {
    this.isDelivered = options.isDelivered ?? ((delivery) => delivery.status === 200);
  }

  /** Records a request once its status is known, and wakes the waiters it satisfies. */
  record(delivery: T): void {
    this.received.push(delivery);
    if (!this.isDelivered(delivery) || this.waiters.length === 0) return;
    const delivered = this.delivered();
    const ready = this.waiters.filter((waiter) => delivered.length >= waiter.count);
    this.waiters = this.waiters.filter((waiter) => delivered.length < waiter.count);
    for (const waiter of ready) {
      clearTimeout(waiter.timer);
      waiter.resolve(delivered);
    }
  }

  delivered(): T[] {
    return this.received.filter(this.isDelivered);
  }

  /** Resolves with delivered() once it holds at least `count` requests; rejects after `timeoutMs`. */
  waitForDeliveries(count: number, timeoutMs: number): Promise<T[]> {
    const delivered = this.delivered();
    if (delivered.length >= count) return Promise.resolve(delivered);
    return new Promise<T[]>((resolve, reject) => {
      const waiter: Waiter<T> = {
        count,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((other) => other !== waiter);
          const statuses = this.received.map((delivery) => delivery.status).join(', ');
          const { peer, unit, detail } = this.options;
          // The statuses of everything received tell a rejected request from one that never arrived.
          reject(
            new Error(
              `${peer}: ${this.delivered().length} of ${count} deliveries after ${timeoutMs} ms ` +
                `(statuses of all ${this.received.length} ${unit}: [${statuses}]${detail?.() ?? ''})`,
            ),
          );
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  clear(): void {
    this.received = [];
  }

  /** Fails every pending waitForDeliveries call: nothing will arrive any more. */
  stop(): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`${this.options.peer} stopped`));
    }
    this.waiters = [];
  }
}

/**
 * Faults a test asked a peer to inject: queued error answers (`F` is what the peer needs to build one),
 * connection resets and a delay before every answer.
 */
export class FaultPlan<F> {
  private faults: { remaining: number; fault: F }[] = [];
  private resetsPending = 0;
  private delayMs = 0;
  private readonly pendingDelays = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private stopped = false;

  /** The next `count` takeFault() calls return `fault`. Calls queue up. */
  failNext(count: number, fault: F): void {
    if (count > 0) this.faults.push({ remaining: count, fault });
  }

  /** 0 turns the delay off. */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  resetConnectionsNext(count: number): void {
    this.resetsPending += count;
  }

  /** Drops pending failNext/resetConnectionsNext and the delay. */
  clearFaults(): void {
    this.faults = [];
    this.resetsPending = 0;
    this.delayMs = 0;
  }

  /** The fault the current request gets, if one is queued; it counts against failNext's `count`. */
  takeFault(): F | undefined {
    const next = this.faults[0];
    if (!next) return undefined;
    next.remaining -= 1;
    if (next.remaining <= 0) this.faults.shift();
    return next.fault;
  }

  /** True when the current request's connection is to be reset instead of answered. */
  takeReset(): boolean {
    if (this.resetsPending <= 0) return false;
    this.resetsPending -= 1;
    return true;
  }

  /** Waits out the delay set by setDelay(); at once after stop(). */
  delay(): Promise<void> {
    if (this.delayMs <= 0 || this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const pending = {
        timer: setTimeout(() => {
          this.pendingDelays.delete(pending);
          resolve();
        }, this.delayMs),
        resolve,
      };
      this.pendingDelays.add(pending);
    });
  }

  /** Ends the pending delays so that a stopping peer does not wait for them. */
  stop(): void {
    this.stopped = true;
    for (const pending of this.pendingDelays) {
      clearTimeout(pending.timer);
      pending.resolve();
    }
    this.pendingDelays.clear();
  }
}
