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
});
