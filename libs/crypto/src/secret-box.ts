import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Keyring } from './keyring';

/** A secret at rest: AES-256-GCM ciphertext (with its tag appended), its nonce and the id of the key. */
export interface EncryptedSecret {
  kid: string;
  nonce: string;
  ciphertext: string;
}

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts secrets with the keyring's current key. The associated data binds each ciphertext to
 * where it belongs (tenant and field), so a ciphertext copied to another tenant or field fails to open.
 */
export class SecretBox {
  constructor(private readonly keyring: Keyring) {}

  /** The key new secrets are sealed with: the first of MFA_ENCRYPTION_KEYS. */
  get currentKeyId(): string {
    return this.keyring.current.id;
  }

  /** The keys that only open secrets sealed before a rotation. */
  get retiredKeyIds(): string[] {
    return this.keyring.ids.filter((id) => id !== this.currentKeyId);
  }

  /** The secret sealed again with the current key, or null when it already is (a key rotation's catch-up). */
  resealed(secret: EncryptedSecret, associatedData: string): EncryptedSecret | null {
    if (secret.kid === this.currentKeyId) return null;
    return this.seal(this.open(secret, associatedData), associatedData);
  }

  seal(plaintext: string, associatedData: string): EncryptedSecret {
    const { id, key } = this.keyring.current;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return { kid: id, nonce: nonce.toString('base64'), ciphertext: ciphertext.toString('base64') };
  }

  open(secret: EncryptedSecret, associatedData: string): string {
    const data = Buffer.from(secret.ciphertext, 'base64');
    const nonce = Buffer.from(secret.nonce, 'base64');
    // GCM takes shorter tags and other nonce sizes; a stored secret has exactly what seal() writes, and
    // a shorter tag is far easier to forge.
    if (nonce.length !== NONCE_BYTES || data.length < TAG_BYTES)
      throw new Error(
        `a sealed secret needs a ${NONCE_BYTES}-byte nonce and a ${TAG_BYTES}-byte tag (got a ${nonce.length}-byte nonce and ${data.length} bytes of ciphertext)`,
      );
    const decipher = createDecipheriv('aes-256-gcm', this.keyring.key(secret.kid), nonce, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(data.subarray(0, data.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  }
}
