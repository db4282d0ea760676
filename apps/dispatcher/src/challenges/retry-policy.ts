/** Exponential backoff with full jitter: spreads retries of many challenges so a recovering provider is not stampeded. */
export function backoffDelayMs(
  attempt: number,
  baseMs = 100,
  capMs = 5000,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * The wait before attempt `attempt + 1`: the backoff, or longer when the provider named a time
 * (Retry-After), and never past the challenge's expiry.
 */
export function nextAttemptDelayMs(
  attempt: number,
  retryAt: number | undefined,
  expiresAt: number,
  now = Date.now(),
): number {
  const asked = retryAt === undefined ? 0 : retryAt - now;
  return Math.max(0, Math.min(Math.max(backoffDelayMs(attempt), asked), expiresAt - now));
}
