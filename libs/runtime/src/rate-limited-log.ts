/**
 * Writes a recurring log line at most once per interval per key, saying how many like it were left
 * out since: during a provider outage, one line per failed push would bury everything else (the
 * metrics count every one). Remembers the most recent `maxKeys` keys.
 */
export class RateLimitedLog {
  private readonly written = new Map<string, { at: number; leftOut: number }>();

  constructor(
    private readonly intervalMs = 10_000,
    private readonly maxKeys = 1000,
  ) {}

  /** Calls `write` with how many lines of `key` were left out since its last one, or leaves this one out. */
  write(key: string, write: (leftOut: number) => void, now = Date.now()): void {
    const last = this.written.get(key);
    if (last && now - last.at < this.intervalMs) {
      last.leftOut += 1;
      return;
    }
    this.written.delete(key);
    if (this.written.size >= this.maxKeys) this.written.delete(this.written.keys().next().value as string);
    this.written.set(key, { at: now, leftOut: 0 });
    write(last?.leftOut ?? 0);
  }

  /** The text to append to a line that stands for `leftOut` more. */
  static leftOutNote(leftOut: number): string {
    return leftOut > 0 ? ` (and ${leftOut} more like it since the last such line, not logged)` : '';
  }
}
