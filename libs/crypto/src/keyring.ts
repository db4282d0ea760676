import { hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KeyringEntry {
  id: string;
  key: Buffer;
}

/**
 * The data-encryption keys, from `kid1:base64,kid2:base64`: the first encrypts new secrets,
 * every one decrypts, so keys can be rotated without re-encrypting at once.
 */
export class Keyring {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly entries: KeyringEntry[]) {
    if (entries.length === 0) throw new Error('MFA_ENCRYPTION_KEYS holds no key');
    this.byId = new Map(entries.map((entry) => [entry.id, entry.key]));
  }

  static parse(spec: string): Keyring {
    const entries = spec.split(',').map((item, index) => {
      const [id, encoded = '', ...rest] = item.trim().split(':');
      const key = Buffer.from(encoded, 'base64');
      if (!id || !/^[A-Za-z0-9_-]{1,32}$/.test(id) || rest.length > 0)
        throw new Error(
          `MFA_ENCRYPTION_KEYS entry ${index + 1} must be kid:base64 (kid of letters, digits, _ or -)`,
        );
      if (key.length !== 32)
        throw new Error(
          `MFA_ENCRYPTION_KEYS key "${id}" must be 32 bytes, base64-encoded (openssl rand -base64 32)`,
        );
      // Node's decoder skips what is not base64: a typo would silently give another key.
      if (!isExactly(key, encoded))
        throw new Error(
          `MFA_ENCRYPTION_KEYS key "${id}" holds characters that are not base64 (Node would skip them and use another key): copy it again as openssl rand -base64 32 printed it`,
        );
      // A placeholder (all zeros, say) is no secret. Only the first key seals: a placeholder kept
      // after it still opens what it sealed, so a deployment can rotate away from one.
      if (index === 0 && key.every((byte) => byte === key[0]))
        throw new Error(
          `MFA_ENCRYPTION_KEYS key "${id}" is one byte repeated, a placeholder rather than a key: put a key made with openssl rand -base64 32 first (the placeholder can stay after it while secrets are re-sealed)`,
        );
      return { id, key };
    });
    const ids = entries.map((entry) => entry.id);
    const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
    if (repeated)
      throw new Error(`MFA_ENCRYPTION_KEYS names key "${repeated}" twice; each kid must be unique`);
    return new Keyring(entries);
  }

  /** Dev mode only: a key generated on first use and kept outside git, so local data survives restarts. */
  static loadOrCreateDevKeyring(file: string): Keyring {
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true });
      try {
        // 'wx': when two apps start at once, the first key written wins and both use it.
        writeFileSync(file, `dev:${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    return Keyring.parse(readFileSync(file, 'utf8').trim());
  }

  get current(): KeyringEntry {
    return this.entries[0];
  }

  /**
   * A key of its own for `purpose` (HKDF-SHA256 of the current key): the same on every app given the
   * same first key, and telling nothing of the key it comes from.
   */
  derive(purpose: string): Buffer {
    return deriveKey(this.current.key, purpose);
  }

  /**
   * What tells each key apart without revealing it (a value derived from the key under a purpose of
   * its own): the same for the same bytes, another for other bytes under the same id. See KeyringGuard.
   */
  get checks(): { id: string; check: string }[] {
    return this.entries.map(({ id, key }) => ({ id, check: deriveKey(key, 'key-check').toString('base64') }));
  }

  get ids(): string[] {
    return this.entries.map((entry) => entry.id);
  }

  key(id: string): Buffer {
    const key = this.byId.get(id);
    if (!key)
      throw new Error(`no key "${id}" in MFA_ENCRYPTION_KEYS; it was used to encrypt a stored secret`);
    return key;
  }
}

/** HKDF-SHA256 of `key` for `purpose`: 32 bytes that tell nothing of the key. */
function deriveKey(key: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `push-mfa/${purpose}`, 32));
}

/** `encoded` is `key` in base64 or base64url, padded or not, and nothing else. */
function isExactly(key: Buffer, encoded: string): boolean {
  const unpadded = (text: string) => text.replace(/=+$/, '');
  return [key.toString('base64'), key.toString('base64url')].map(unpadded).includes(unpadded(encoded));
}
