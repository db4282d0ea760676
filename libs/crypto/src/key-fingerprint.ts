import { createHash, createPublicKey, KeyObject } from 'node:crypto';

/** SHA-256 of the public key (SPKI DER), so admins can tell which key is live without seeing it. */
export function publicKeyFingerprint(privateKey: KeyObject): string {
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}
