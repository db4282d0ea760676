import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateKeyPairSync, KeyObject, createPrivateKey, createPublicKey } from 'node:crypto';

export const DEV_ISSUER = 'push-mfa-dev';
export const DEV_AUDIENCE = 'push-mfa-api';
export const DEV_ALGORITHM = 'ES256';

/**
 * The signing key of AUTH_MODE=dev: generated on first use under LOCAL_STATE_DIR (outside git) and
 * shared by the API (to verify) and `npm run token` (to sign). Never trusted in production.
 */
export function loadOrCreateDevSigningKey(localStateDir: string): {
  privateKey: KeyObject;
  publicKey: KeyObject;
} {
  const file = join(localStateDir, 'dev', 'auth-signing-key.pem');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const privateKey = createPrivateKey(readFileSync(file));
  return { privateKey, publicKey: createPublicKey(privateKey) };
}
