import { Injectable, Logger } from '@nestjs/common';
import type { MfaConfigRecord } from '@lib/mfa-config';
import type { Principal } from '../auth/principal';

export type AuditedChange = 'created' | 'updated' | 'deleted';

/**
 * One log line per configuration change: who made it (the token's subject), and for an update which
 * fields changed. A secret is never in it: a key counts as changed when its fingerprint did, and the
 * line carries the fingerprints now in use. Info level: keep LOG_LEVEL at info where it is the trail.
 */
@Injectable()
export class AuditTrail {
  private readonly logger = new Logger('Audit');

  record(actor: Principal, change: AuditedChange, record: MfaConfigRecord, before?: MfaConfigRecord): void {
    const { apns, fcm } = record.settings ?? {};
    this.logger.log({
      msg: `mfa configuration ${change}`,
      audit: true,
      actor: actor.subject || null,
      tenant: record.tenant,
      type: record.type,
      version: record.version,
      ...(before && { changed: changedFields(before, record) }),
      ...(apns && { apns_key_fingerprint: apns.key_fingerprint }),
      ...(fcm && { fcm_private_key_fingerprint: fcm.private_key_fingerprint }),
    });
  }
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
      const path = `${prefix}.${name}`;
      // The ciphertext changes with every write (a fresh nonce); the fingerprint says whether the key did.
      if (name === 'key' || name === 'private_key') continue;
      const fingerprinted = /^(key|private_key)_fingerprint$/.exec(name);
      if (fingerprinted) leaves.set(`${prefix}.${fingerprinted[1]}`, String(field));
      else if (field && typeof field === 'object' && !Array.isArray(field)) visit(field, path);
      else leaves.set(path, JSON.stringify(field));
    }
  };
  const { enabled, provider, is_custom, settings } = record;
  visit({ enabled, provider, is_custom, settings }, '');
  return new Map([...leaves].map(([path, value]) => [path.slice(1), value]));
}
