import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { SecretBox } from '@lib/crypto';
import { MfaConfigRepository, MfaConfigSealer, StoredPushSettings } from '@lib/mfa-config';

/**
 * Passes after the first: during a rolling deploy, a replica still running with the old keyring first
 * seals what it writes with the old key.
 */
const PASS_EVERY_MS = 10 * 60_000;
const RETRY_AFTER_FAILURE_MS = 60_000;
/** A configuration written meanwhile is read again; one changing faster than this waits for the next pass. */
const ATTEMPTS_PER_CONFIGURATION = 3;
/** Errors on this many configurations in a row mean the store is away, not one odd document: the pass ends. */
const FAILURES_IN_A_ROW_ENDING_A_PASS = 3;

/** Why a configuration still holds a secret of a retired key after a pass. */
type Unsettled = 'does_not_open' | 'kept_changing' | 'store_error' | 'not_reached';

export interface ResealPass {
  /** When the pass started: only a pass started after every replica runs with the new key first counts. */
  startedAt: Date;
  /** Live configurations that held a secret sealed with another key than the current one. */
  found: number;
  /** Of those, how many hold none any more: sealed again here, rewritten or deleted meanwhile. */
  settled: number;
  /** The others, by why. */
  unsettled: Record<Unsettled, number>;
}

export const leftAfter = (pass: ResealPass): number => pass.found - pass.settled;

/**
 * Finishes a key rotation. Secrets stored under any key but the first of MFA_ENCRYPTION_KEYS are sealed
 * again with the first, in the background after start and every ten minutes; the log and the
 * mfa_secrets_on_retired_keys gauge say when the other keys can be removed.
 */
@Injectable()
export class SecretResealer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SecretResealer.name);
  private readonly stopped = new AbortController();
  private loop?: Promise<void>;
  /** The last pass that ran to its end (or to a run of store errors); undefined until one has. */
  lastPass?: ResealPass;

  constructor(
    private readonly repository: MfaConfigRepository,
    private readonly sealer: MfaConfigSealer,
    private readonly box: SecretBox,
  ) {}

  onApplicationBootstrap(): void {
    this.loop = this.run();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped.signal.aborted) {
      let wait = PASS_EVERY_MS;
      try {
        const pass = await this.pass();
        // One cut short by shutdown says nothing about what is left.
        if (this.stopped.signal.aborted) break;
        this.report(pass, this.lastPass === undefined);
        this.lastPass = pass;
        if (pass.unsettled.store_error > 0) wait = RETRY_AFTER_FAILURE_MS;
      } catch (error) {
        wait = RETRY_AFTER_FAILURE_MS;
        this.logger.warn(
          `stored secrets not checked for retired keys, retrying in ${wait / 1000} s: ${(error as Error).message}`,
        );
      }
      await sleep(wait, undefined, { signal: this.stopped.signal }).catch(() => undefined);
    }
  }

  /** One pass over every live configuration. */
  async pass(): Promise<ResealPass> {
    const startedAt = new Date();
    const found = await this.repository.findSealedWithOtherKeys(this.box.currentKeyId);
    const pass: ResealPass = {
      startedAt,
      found: found.length,
      settled: 0,
      unsettled: { does_not_open: 0, kept_changing: 0, store_error: 0, not_reached: 0 },
    };
    let failuresInARow = 0;
    for (const [index, { _id }] of found.entries()) {
      if (this.stopped.signal.aborted || failuresInARow >= FAILURES_IN_A_ROW_ENDING_A_PASS) {
        pass.unsettled.not_reached = found.length - index;
        break;
      }
      const outcome = await this.reseal(_id).catch((error: Error) => {
        if (failuresInARow === 0) this.logger.warn(`configuration ${_id} not re-sealed: ${error.message}`);
        return 'store_error' as const;
      });
      failuresInARow = outcome === 'store_error' ? failuresInARow + 1 : 0;
      if (outcome === 'settled') pass.settled += 1;
      else pass.unsettled[outcome] += 1;
    }
    return pass;
  }

  private async reseal(id: string): Promise<'settled' | Unsettled> {
    for (let attempt = 0; attempt < ATTEMPTS_PER_CONFIGURATION; attempt++) {
      const current = await this.repository.findLiveById(id);
      if (!current) return 'settled';
      let settings: StoredPushSettings | null;
      try {
        settings = this.sealer.resealed(current);
      } catch (error) {
        this.logger.error(
          `configuration ${current.tenant}/${current.type}: a stored secret does not open (${(error as Error).message}). Put the key it was sealed with back in MFA_ENCRYPTION_KEYS (after the first), or send the provider keys again with PATCH /mfa/push`,
        );
        return 'does_not_open';
      }
      if (!settings) return 'settled';
      if (await this.repository.replaceSealedSettings(current, settings)) return 'settled';
    }
    return 'kept_changing';
  }

  private report(pass: ResealPass, first: boolean): void {
    const current = this.box.currentKeyId;
    const left = leftAfter(pass);
    if (pass.found > 0) {
      const why = Object.entries(pass.unsettled)
        .filter(([, count]) => count > 0)
        .map(([reason, count]) => `${count} ${reason.replace(/_/g, ' ')}`)
        .join(', ');
      this.logger.log(
        `${pass.settled} of ${pass.found} configurations with secrets of retired keys now sealed with key "${current}"` +
          (left > 0 ? `; ${left} left (${why}), tried again in the next pass` : ''),
      );
    }
    const retired = this.box.retiredKeyIds;
    if (left === 0 && retired.length > 0 && (first || pass.found > 0))
      this.logger.log(
        `every stored secret is sealed with key "${current}" (pass started ${pass.startedAt.toISOString()}): ${retired.map((id) => `"${id}"`).join(', ')} can be removed from MFA_ENCRYPTION_KEYS if every API replica already ran with "${current}" first when this pass started`,
      );
  }
}
