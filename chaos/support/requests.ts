import type { PushResultEvent } from '@lib/contracts';
import type { PeersProcess } from '../../bench/support/peers';
import type { AppProcess } from '../../bench/support/processes';
import { sleep } from './chaos-context';

/** Pushes the peers accepted (answered 200) so far, both providers together. */
export async function deliveredCount(peers: PeersProcess): Promise<number> {
  const counts = await peers.counts();
  return counts.apns + counts.fcm;
}

/** Waits until the peers accepted `count` pushes; when it happened, or undefined on timeout. */
export async function waitForDelivered(
  peers: PeersProcess,
  count: number,
  timeoutMs = 120_000,
): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await deliveredCount(peers)) >= count) return Date.now();
    await sleep(20);
  }
  return undefined;
}

/** When each challenge was accepted by a peer (ms since the epoch), once per push: duplicates show. */
export async function pushTimes(peers: PeersProcess): Promise<Map<string, number[]>> {
  const arrivals = await peers.arrivals();
  const times = new Map<string, number[]>();
  for (const [challengeId, receivedAt] of [...arrivals.apns, ...arrivals.fcm])
    times.set(challengeId, [...(times.get(challengeId) ?? []), receivedAt]);
  return times;
}

/** The latest `completed_at` among these results (ms since the epoch), 0 when there are none. */
export function lastCompletion(results: Iterable<PushResultEvent>): number {
  let last = 0;
  for (const result of results) last = Math.max(last, Date.parse(result.completed_at));
  return last;
}

/** A counter or gauge of the dispatcher's /metrics, summed over its label sets (0 when absent). */
export async function dispatcherMetric(app: AppProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{.*\})?\s+(\S+)$/.exec(line);
    if (sample?.[1] === name) total += Number(sample[2]);
  }
  return total;
}

/** Milliseconds as seconds, one decimal; -1 for a moment that never came. */
export const secondsBetween = (from: number, to: number | undefined) =>
  to === undefined || to <= 0 ? -1 : Math.round((to - from) / 100) / 10;
