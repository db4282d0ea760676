import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@lib/config';
import type { MfaConfigRecord } from '@lib/mfa-config';
import { actorOf, Principal } from '../auth/principal';

/** Who makes a change, and the request it came in (its id matches the request line and X-Request-Id). */
export interface ChangeAuthor {
  principal: Principal;
  requestId?: string;
}

/**
 * One log line per configuration change: who made it (the token's subject), the version, and for an
 * update which fields changed. A secret is never in it: a key counts as changed when its fingerprint did,
 * and the line carries fingerprints. Info level: LOG_LEVEL above info would hide it, so start-up says so.
 */
@Injectable()
export class AuditTrail implements OnModuleInit {
  private readonly logger = new Logger('Audit');

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onModuleInit(): void {
    if (['warn', 'error', 'fatal'].includes(this.config.logLevel))
      this.logger.warn(
        `LOG_LEVEL=${this.config.logLevel} hides the audit trail of configuration changes (info lines); set LOG_LEVEL=info where they are needed`,
      );
  }

  created(author: ChangeAuthor, record: MfaConfigRecord): void {
    this.write(author, 'created', record, fingerprints(record));
  }

  updated(author: ChangeAuthor, before: MfaConfigRecord, after: MfaConfigRecord): void {
    const now = fingerprints(after);
    this.write(author, 'updated', after, {
      changed: changedFields(before, after),
      ...now,
      ...replaced(fingerprints(before), now),
    });
  }

  /** `removed` is the configuration as it was: the tombstone keeps no settings. */
  deleted(author: ChangeAuthor, tombstone: MfaConfigRecord, removed: MfaConfigRecord): void {
    this.write(author, 'deleted', tombstone, replaced(fingerprints(removed)));
  }

  /**
   * A change the store did not confirm (the API answered 503, "may have been saved"): it may stand, and
   * be published and applied, so it is audited too. `basedOn` is the version it was applied to.
   */
  unconfirmed(
    { principal, requestId }: ChangeAuthor,
    change: 'create' | 'update' | 'delete',
    target: { tenant: string; type: string; basedOn?: number },
    error: Error,
  ): void {
    this.logger.warn({
      msg: `mfa configuration ${change} unconfirmed: the store may have applied it`,
      audit: true,
      outcome: 'unconfirmed',
      actor: actorOf(principal),
      request_id: requestId,
      tenant: target.tenant,
      type: target.type,
      ...(target.basedOn !== undefined && { based_on_version: target.basedOn }),
      error: error.message,
    });
  }

  private write(
    { principal, requestId }: ChangeAuthor,
    change: string,
    record: MfaConfigRecord,
    details: Record<string, unknown>,
  ): void {
    this.logger.log({
      msg: `mfa configuration ${change}`,
      audit: true,
      actor: actorOf(principal),
      request_id: requestId,
      tenant: record.tenant,
      type: record.type,
      version: record.version,
      ...details,
    });
  }
}

function fingerprints(record: MfaConfigRecord): Record<string, string> {
  const { apns, fcm } = record.settings ?? {};
  return {
    ...(apns && { apns_key_fingerprint: apns.key_fingerprint }),
    ...(fcm && { fcm_private_key_fingerprint: fcm.private_key_fingerprint }),
  };
}

/** The fingerprints of keys no longer in use (all of them without `now`), each as previous_<name>. */
function replaced(before: Record<string, string>, now: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(
    Object.entries(before)
      .filter(([name, fingerprint]) => now[name] !== fingerprint)
      .map(([name, fingerprint]) => [`previous_${name}`, fingerprint]),
  );
}

/** The admin-controlled fields (dotted paths) that differ between two versions of a configuration. */
export function changedFields(before: MfaConfigRecord, after: MfaConfigRecord): string[] {
  const was = comparable(before);
  const is = comparable(after);
  return [...new Set([...was.keys(), ...is.keys()])].filter((path) => was.get(path) !== is.get(path)).sort();
}

/** Each leaf of what an admin controls, by path; a sealed secret by its fingerprint, under its own name. */
function comparable(record: MfaConfigRecord): Map<string, string> {
  const leaves = new Map<string, string>();
  const visit = (value: object, prefix: string) => {
    for (const [name, field] of Object.entries(value)) {
      const path = prefix ? `${prefix}.${name}` : name;
      // The ciphertext changes with every write (a fresh nonce); the fingerprint says whether the key did.
      if (name === 'key' || name === 'private_key') continue;
      const fingerprinted = /^(key|private_key)_fingerprint$/.exec(name);
      if (fingerprinted) leaves.set(`${prefix}.${fingerprinted[1]}`, String(field));
      else if (isPlainObject(field)) visit(field, path);
      else if (field !== undefined) leaves.set(path, JSON.stringify(field));
    }
  };
  const { enabled, provider, is_custom, settings } = record;
  visit({ enabled, provider, is_custom, settings }, '');
  return leaves;
}

const isPlainObject = (value: unknown): value is object =>
  value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;
