import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { Keyring } from '@lib/crypto';

/** Where the store remembers which key each id of MFA_ENCRYPTION_KEYS stood for. */
export const KEY_CHECKS_COLLECTION = 'encryption_key_checks';

interface KeyCheckDocument {
  /** The key's id in MFA_ENCRYPTION_KEYS. */
  _id: string;
  /** Keyring.checks: tells the key apart without revealing it. */
  check: string;
  first_seen_at: Date;
}

const DUPLICATE_KEY = 11000;
const UNAUTHORIZED = 13;
/** MongoDB Atlas's answer to an action the user's role lacks ("user is not allowed to do action"). */
const ATLAS_NOT_ALLOWED = 8000;

/** A key whose id the store knows with other bytes: explained at start-up, without a stack. */
export class KeyringMismatchError extends Error {
  override name = 'KeyringMismatchError';
}

/**
 * Refuses to start with a key whose id the store already knows with other bytes. A replica given
 * other bytes under the same id (a key generated again, one deployment's secret mistyped) would seal
 * secrets the other replicas cannot open, and fail to open theirs: configurations failing one by one,
 * long after the change that broke them. Each id is recorded on first use.
 */
@Injectable()
export class KeyringGuard implements OnModuleInit {
  constructor(
    @InjectConnection() private readonly connection: Connection,
    private readonly keyring: Keyring,
  ) {}

  async onModuleInit(): Promise<void> {
    const checks = this.keyring.checks;
    const collection = this.connection.collection<KeyCheckDocument>(KEY_CHECKS_COLLECTION);
    for (const { id, check } of checks) {
      await collection
        .updateOne({ _id: id }, { $setOnInsert: { check, first_seen_at: new Date() } }, { upsert: true })
        .catch((error: { code?: number }) => {
          // Another replica starting at the same moment recorded it first: compared below like any
          // other. A database user that may only read (a dispatcher given least privilege) compares.
          if (![DUPLICATE_KEY, UNAUTHORIZED, ATLAS_NOT_ALLOWED].includes(Number(error.code))) throw error;
        });
    }
    const known = await collection.find({ _id: { $in: checks.map(({ id }) => id) } }).toArray();
    const problems = known
      .filter((stored) => stored.check !== checks.find(({ id }) => id === stored._id)?.check)
      .map(({ _id: id, first_seen_at }) => mismatch(id, first_seen_at));
    if (problems.length > 0) throw new KeyringMismatchError(problems.join('\n'));
  }
}

function mismatch(id: string, since: Date): string {
  return [
    `MFA_ENCRYPTION_KEYS key "${id}" is not the key this database has known as "${id}" since ${since.toISOString()}: secrets sealed with either do not open with the other.`,
    `Put back the key "${id}" was; a new key needs an id of its own, and a rotation to it (docs/security.md, "Keys and rotation").`,
    `If the old key is lost, its secrets are too: delete { _id: "${id}" } from ${KEY_CHECKS_COLLECTION}, then send each tenant's provider keys again with PATCH /mfa/push.`,
  ].join(' ');
}
