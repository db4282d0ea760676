import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { SecretBox } from '@lib/crypto';
import { MfaConfigRepository, MfaConfigSealer, MfaType, StoredPushSettings } from '@lib/mfa-config';

/**
 * Passes after the first: during a rolling deploy, a replica still running with the old keyring first
 * seals what it writes with the old key.
 */
const PASS_EVERY_MS = 10 * 60_000;
const RETRY_AFTER_FAILURE_MS = 60_000;
/** A configuration written meanwhile is read again; one changing faster than this waits for the next pass. */
const ATTEMPTS_PER_CONFIGURATION = 3;

export interface ResealPass {
  /** Live configurations that held a secret sealed with another key than the current one. */
  found: number;
  /** Of those, how many hold none any more (sealed again here, or rewritten meanwhile). */
  settled: number;
  /** Still sealed with another key: a secret that does not open, or a configuration that kept changing. */
  left: number;
}

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
  /** The last finished pass; undefined until the first one ends. */
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
        const first = this.lastPass === undefined;
        this.lastPass = await this.pass();
        this.report(this.lastPass, first);
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
    const found = await this.repository.findSealedWithOtherKeys(this.box.currentKeyId);
    let settled = 0;
    for (const { tenant, type } of found) {
      // What is left is found again by the next start's pass.
      if (this.stopped.signal.aborted) break;
      if (await this.reseal(tenant, type)) settled += 1;
    }
    return { found: found.length, settled, left: found.length - settled };
  }

  /** True when the configuration holds no secret of a retired key any more. */
  private async reseal(tenant: string, type: MfaType): Promise<boolean> {
    for (let attempt = 0; attempt < ATTEMPTS_PER_CONFIGURATION; attempt++) {
      const current = await this.repository.findLive(tenant, type);
      if (!current) return true;
      let settings: StoredPushSettings | null;
      try {
        settings = this.sealer.resealed(current);
      } catch (error) {
        this.logger.error(
          `configuration ${tenant}/${type}: a stored secret does not open (${(error as Error).message}). Put the key it was sealed with back in MFA_ENCRYPTION_KEYS (after the first), or send the provider keys again with PATCH /mfa/push`,
        );
        return false;
      }
      if (!settings) return true;
      if (await this.repository.replaceSealedSettings(current, settings)) return true;
    }
    return false;
  }

  private report({ found, settled, left }: ResealPass, first: boolean): void {
    const current = this.box.currentKeyId;
    if (found > 0)
      this.logger.log(
        `${settled} of ${found} configurations with secrets of retired keys now sealed with key "${current}"` +
          (left > 0 ? `; ${left} left (see the errors above), tried again in the next pass` : ''),
      );
    const retired = this.box.retiredKeyIds;
    if (left === 0 && retired.length > 0 && (first || found > 0))
      this.logger.log(
        `every stored secret is sealed with key "${current}": ${retired.map((id) => `"${id}"`).join(', ')} can be removed from MFA_ENCRYPTION_KEYS once every API replica runs with "${current}" first`,
      );
  }
}
