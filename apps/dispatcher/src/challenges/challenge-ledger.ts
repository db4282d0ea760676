import type { PushResultEvent } from '@lib/contracts';
import type { ParkedState } from './parked-request';

/**
 * Where a request sits in Kafka (`topic/partition@offset`). A redelivered request has the position of
 * the first delivery; a second request that reuses a challenge id has another one.
 */
export type RequestPosition = string;

export type LedgerEntry =
  /**
   * `copy`: the run of a parked copy, which may last until the challenge expires. `resultSeen`: the
   * results topic holds a result of it already (a send that failed had written it), so a failed
   * publication at its end keeps nothing to publish again. `attempts`: as for `parked`, kept through
   * the run, so a run cut short does not forget a newer copy learned meanwhile.
   */
  | {
      state: 'running';
      position: RequestPosition;
      done: Promise<void>;
      copy?: true;
      resultSeen?: true;
      attempts?: number;
    }
  /**
   * Its provider failed, and it was handed to mfa.push.retrying: whoever reads it there sees it through.
   * `unstored` holds the copy while it is not known to be stored, for a redelivery to store it again.
   * `attempts`: those of the newest copy known. A copy parks the next one after each failed attempt,
   * so an older copy read again (a redelivery) is stale: run, it would start a second chain of copies.
   */
  | { state: 'parked'; position: RequestPosition; unstored?: ParkedState; attempts?: number }
  /**
   * `unpublished` holds a result whose publication failed, until a redelivery publishes it.
   * `resultSeen`: read on the results topic, so never held as unpublished again.
   */
  | { state: 'done'; position: RequestPosition | null; unpublished?: PushResultEvent; resultSeen?: true };

/**
 * The challenges this replica knows to be handled or in hand: its own, and (through the results
 * topic) every replica's. Kafka delivers at least once; this is what keeps a redelivered request, after
 * a crash, a rebalance or a broker restart, from being pushed to the phone or answered a second time.
 * Bounded: the oldest finished entries leave first.
 */
export class ChallengeLedger {
  private readonly entries = new Map<string, LedgerEntry>();
  private readonly finishers = new Map<string, () => void>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(challengeId: string): LedgerEntry | undefined {
    return this.entries.get(challengeId);
  }

  /**
   * This replica starts on the challenge (`copy`: from its parked copy, made after `attempts`); a
   * redelivery meanwhile waits for `done`.
   */
  begin(challengeId: string, position: RequestPosition, { copy = false, attempts: made = 0 } = {}): void {
    // Whoever waited on an earlier state looks again (a copy taking over from its unstored parking).
    this.wake(challengeId);
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    this.finishers.set(challengeId, finish);
    const attempts = Math.max(made, this.newestCopyAttempts(challengeId));
    this.set(challengeId, {
      state: 'running',
      position,
      done,
      ...(copy && { copy: true as const }),
      ...(attempts > 0 && { attempts }),
    });
  }

  /** The challenge has its result; `published` false keeps the result for the redelivery to publish. */
  finish(challengeId: string, position: RequestPosition, result: PushResultEvent, published: boolean): void {
    // A send can fail with its records written: one the results topic showed stays published.
    const entry = this.entries.get(challengeId);
    const seen = entry?.state !== 'parked' && entry?.resultSeen;
    if (seen) this.set(challengeId, { state: 'done', position, resultSeen: true });
    else this.set(challengeId, { state: 'done', position, ...(!published && { unpublished: result }) });
    this.wake(challengeId);
  }

  /**
   * Handed to mfa.push.retrying. With `unstored` (the copy), its store is under way: a redelivery
   * that came before this waits for `storeEnded`; one that comes after it stores the copy again at
   * once. Two stored copies push once: they share a key, so a partition, and the second finds the
   * first one's run here (or its result) in the ledger. A copy older than the newest known is
   * dropped when read (or stores the newest, if that store failed).
   */
  park(challengeId: string, position: RequestPosition, unstored?: ParkedState, attempts?: number): void {
    const newest = Math.max(unstored?.attempts ?? 0, attempts ?? 0, this.newestCopyAttempts(challengeId));
    this.set(challengeId, {
      state: 'parked',
      position,
      ...(unstored && { unstored }),
      ...(newest > 0 && { attempts: newest }),
    });
    if (!unstored) this.wake(challengeId);
  }

  /**
   * Whether a copy made after `attempts` attempts is the newest one known of its challenge (or one of
   * equals, stored twice), rather than one a later copy took over from.
   */
  isNewestCopy(challengeId: string, attempts: number): boolean {
    return attempts >= this.newestCopyAttempts(challengeId);
  }

  private newestCopyAttempts(challengeId: string): number {
    const entry = this.entries.get(challengeId);
    return entry?.state === 'parked' || entry?.state === 'running' ? (entry.attempts ?? 0) : 0;
  }

  /** The store of a parked copy ended; once stored, it is kept no more (a result learned meanwhile stands). */
  storeEnded(challengeId: string, stored: boolean): void {
    const entry = this.entries.get(challengeId);
    if (stored && entry?.state === 'parked' && entry.unstored)
      this.set(challengeId, { state: 'parked', position: entry.position, attempts: entry.attempts });
    // A copy's run that took over meanwhile woke those waiting, and waits for its own end.
    if (entry?.state !== 'running') this.wake(challengeId);
  }

  /**
   * A copy parked by this replica or another one (`attempts` made before it), unless its result (or its
   * handling here) is known.
   */
  learnParked(challengeId: string, position: RequestPosition, attempts = 0): void {
    const entry = this.entries.get(challengeId);
    if (!entry) {
      this.set(challengeId, { state: 'parked', position, ...(attempts > 0 && { attempts }) });
      return;
    }
    if (entry.position !== position || entry.state === 'done') return;
    const newest = Math.max(attempts, entry.attempts ?? 0);
    // A new copy says the challenge is still retrying: kept at the back of the eviction order, as the
    // owner's own park() keeps it, or a replica taking it over could have forgotten the newest copy.
    if (entry.state === 'parked')
      this.set(challengeId, { ...entry, ...(newest > 0 && { attempts: newest }) });
    else if (newest > 0) entry.attempts = newest;
  }

  /**
   * Nothing was pushed (e.g. shutting down mid-retry): a redelivery handles the challenge afresh,
   * unless a copy of it was parked meanwhile (by another replica): that one sees it through.
   */
  abandon(challengeId: string): void {
    const entry = this.entries.get(challengeId);
    if (entry?.state === 'running' && entry.attempts)
      this.set(challengeId, { state: 'parked', position: entry.position, attempts: entry.attempts });
    else this.entries.delete(challengeId);
    this.wake(challengeId);
  }

  /**
   * A result seen on the results topic, published by this replica or another one. `settled`: the run
   * here that saw it ends, so the challenge is done, whoever waits for the run looks again.
   */
  learn(challengeId: string, position: RequestPosition | null, { settled = false } = {}): void {
    const entry = this.entries.get(challengeId);
    if (entry?.state === 'running' && !settled) {
      // Its run goes on. A result of this very request was written by a send still failing elsewhere.
      if (position !== null && position === entry.position) entry.resultSeen = true;
      return;
    }
    this.set(challengeId, { state: 'done', position, resultSeen: true });
    if (settled) this.wake(challengeId);
  }

  /** The run here of this challenge learned that the results topic holds a result of its request. */
  resultSeenWhileRunning(challengeId: string): boolean {
    const entry = this.entries.get(challengeId);
    return entry?.state === 'running' && entry.resultSeen === true;
  }

  private wake(challengeId: string): void {
    this.finishers.get(challengeId)?.();
    this.finishers.delete(challengeId);
  }

  private set(challengeId: string, entry: LedgerEntry): void {
    // Re-inserted at the end: the Map's order is the eviction order.
    this.entries.delete(challengeId);
    this.entries.set(challengeId, entry);
    if (this.entries.size <= this.capacity) return;
    // An entry that holds work (a copy retrying for minutes) is moved behind the others as it is met,
    // so the next eviction does not walk past it again: left in front, thousands of them cost every new
    // challenge id a walk of the whole Map. Bounded by one lap: if all hold work, none is forgotten.
    let unvisited = this.entries.size;
    for (const [oldest, candidate] of this.entries) {
      if (this.entries.size <= this.capacity || unvisited-- === 0) break;
      this.entries.delete(oldest);
      if (holdsWork(candidate)) this.entries.set(oldest, candidate);
    }
  }
}

/** Running, or holding a result or a copy still to be published: not to be forgotten. */
function holdsWork(entry: LedgerEntry): boolean {
  return (
    entry.state === 'running' ||
    (entry.state === 'done' && entry.unpublished !== undefined) ||
    (entry.state === 'parked' && entry.unstored !== undefined)
  );
}
