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
