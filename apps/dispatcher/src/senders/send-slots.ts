/**
 * At most `size` sends at once, with a bounded wait for a turn: as many as a pooled agent has sockets.
 * Node's agent would queue the rest without a limit, and a request's timeout starts only once it has a
 * socket, so the wait would be counted by nothing: not by the send's timeout, not by its caller's worst
 * case, not by the Android `ttl` computed before it.
 */
export class SendSlots {
  private inUse = 0;
  /** Waiting turns, oldest first. */
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** A release function once a slot is free, or undefined when none came within `waitMs`. */
  acquire(waitMs: number): Promise<(() => void) | undefined> {
    if (this.inUse < this.size) return Promise.resolve(this.take());
    return new Promise((resolve) => {
      const turn = () => {
        clearTimeout(timer);
        resolve(this.take());
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(turn), 1);
        resolve(undefined);
      }, waitMs);
      this.waiting.push(turn);
    });
  }

  /** Sends in flight. */
  get busy(): number {
    return this.inUse;
  }

  private take(): () => void {
    this.inUse++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      this.waiting.shift()?.();
    };
  }
}
