import { backoffDelayMs, nextAttemptDelayMs } from './retry-policy';

/** Just below 1: the largest delay full jitter can draw. */
const HIGHEST = () => 1 - Number.EPSILON;

describe('backoffDelayMs', () => {
  it('doubles the ceiling with every attempt, from the base', () => {
    const ceilings = [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelayMs(attempt, 100, 5000, HIGHEST) + 1);
    expect(ceilings).toEqual([100, 200, 400, 800, 1600, 3200]);
  });

  it('never exceeds the cap, however many attempts (no overflow to Infinity or NaN)', () => {
    for (const attempt of [7, 10, 50, 1100, 10_000]) {
      const delay = backoffDelayMs(attempt, 100, 5000, HIGHEST);
      expect(delay).toBe(4999);
    }
  });

  it('draws anywhere from zero up to the ceiling (full jitter), in whole milliseconds', () => {
    expect(backoffDelayMs(3, 100, 5000, () => 0)).toBe(0);
    expect(backoffDelayMs(3, 100, 5000, () => 0.5)).toBe(200);
    expect(backoffDelayMs(3, 100, 5000, () => 0.123456)).toBe(49);
  });

  it('honours another base and cap', () => {
    expect(backoffDelayMs(1, 250, 1000, HIGHEST)).toBe(249);
    expect(backoffDelayMs(2, 250, 1000, HIGHEST)).toBe(499);
    expect(backoffDelayMs(4, 250, 1000, HIGHEST)).toBe(999);
  });

  it('spreads real random delays over the whole range, so retries of many challenges do not bunch up', () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelayMs(10));
    expect(delays.filter((delay) => !Number.isInteger(delay) || delay < 0 || delay >= 5000)).toEqual([]);
    // Chance of failing by luck: below 1e-100.
    expect(Math.min(...delays)).toBeLessThan(1000);
    expect(Math.max(...delays)).toBeGreaterThan(4000);
    expect(new Set(delays).size).toBeGreaterThan(1000);
  });
});

describe('nextAttemptDelayMs', () => {
  const now = 1_000_000;
  const random = jest.spyOn(Math, 'random');
  beforeEach(() => random.mockReturnValue(0.5));
  afterAll(() => random.mockRestore());

  it('waits the backoff when the provider named no time, or an earlier one', () => {
    expect(nextAttemptDelayMs(3, undefined, now + 60_000, now)).toBe(200);
    expect(nextAttemptDelayMs(3, now + 50, now + 60_000, now)).toBe(200);
  });

  it("waits for the provider's Retry-After when it is later than the backoff", () => {
    expect(nextAttemptDelayMs(3, now + 12_000, now + 60_000, now)).toBe(12_000);
  });

  it('never waits past the challenge’s expiry, nor less than nothing', () => {
    expect(nextAttemptDelayMs(3, now + 120_000, now + 60_000, now)).toBe(60_000);
    expect(nextAttemptDelayMs(3, undefined, now - 10, now)).toBe(0);
  });
});
