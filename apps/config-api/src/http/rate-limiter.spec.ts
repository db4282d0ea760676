import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('lets a burst through, then refuses with the seconds until the next request is allowed', () => {
    const limiter = new RateLimiter(60, 3); // one a second once the burst is spent
    const at = 1_000_000;
    expect([1, 2, 3].map(() => limiter.take('10.0.0.1', at).ok)).toEqual([true, true, true]);
    expect(limiter.take('10.0.0.1', at)).toEqual({ ok: false, retryAfterSeconds: 1 });
    // Another client has its own bucket.
    expect(limiter.take('10.0.0.2', at).ok).toBe(true);
    expect(limiter.take('10.0.0.1', at + 1000).ok).toBe(true);
    expect(limiter.take('10.0.0.1', at + 1000).ok).toBe(false);
  });

  it('forgets clients whose bucket filled up again, so memory does not grow with every address seen', () => {
    const limiter = new RateLimiter(600, 10);
    for (let i = 0; i < 9_999; i++) limiter.take(`client-${i}`, 0);
    expect(limiter.size).toBe(9_999);
    limiter.take('late', 60_000);
    expect(limiter.size).toBe(1);
  });

  it('lets a client idle for long through with its burst, no more', () => {
    const limiter = new RateLimiter(60, 3);
    limiter.take('10.0.0.1', 0);
    const anHourLater = 3_600_000;
    expect([1, 2, 3, 4].map(() => limiter.take('10.0.0.1', anHourLater).ok)).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  it('refuses a request on part of a token, as long as Retry-After says', () => {
    const limiter = new RateLimiter(60, 3);
    for (let i = 0; i < 3; i++) limiter.take('10.0.0.1', 0);
    expect(limiter.take('10.0.0.1', 500)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(limiter.take('10.0.0.1', 1000).ok).toBe(true);
  });

  it('keeps the buckets of clients still draining when it forgets the full ones', () => {
    const limiter = new RateLimiter(600, 10);
    for (let i = 0; i < 5; i++) limiter.take('a', 0);
    // Enough other clients at the same instant for a prune to run.
    for (let i = 0; i < 9_995; i++) limiter.take(`client-${i}`, 0);
    expect([1, 2, 3, 4, 5, 6].map(() => limiter.take('a', 0).ok)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
    ]);
  });
});
