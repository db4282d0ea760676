/** How often the limiter forgets clients whose bucket has filled up again. */
const PRUNE_EVERY = 10_000;

export type Admission = { ok: true } | { ok: false; retryAfterSeconds: number };

/**
 * A token bucket per client: `burst` requests at once, refilled at `perMinute`. Memory stays bounded by
 * the clients active within about a minute: full buckets are forgotten (a new one starts full anyway).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;
  private takes = 0;

  constructor(
    perMinute: number,
    private readonly burst: number,
  ) {
    this.perMs = perMinute / 60_000;
  }

  take(client: string, now = Date.now()): Admission {
    if (++this.takes % PRUNE_EVERY === 0) this.prune(now);
    const bucket = this.buckets.get(client) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.perMs);
    bucket.at = now;
    this.buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)) };
  }

  /** Clients tracked right now. */
  get size(): number {
    return this.buckets.size;
  }

  private prune(now: number): void {
    for (const [client, bucket] of this.buckets)
      if (bucket.tokens + (now - bucket.at) * this.perMs >= this.burst) this.buckets.delete(client);
  }
}
