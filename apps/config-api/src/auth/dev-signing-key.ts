import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateKeyPairSync, KeyObject, createPrivateKey, createPublicKey } from 'node:crypto';
import { SignJWT } from 'jose';

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

/** A dev access token for `npm run token` and the demo: trusted only by an API in AUTH_MODE=dev. */
export async function signDevToken(
  localStateDir: string,
  options: { scopes: string[]; tenant?: string; ttlSeconds?: number },
): Promise<string> {
  const { privateKey } = loadOrCreateDevSigningKey(localStateDir);
  return new SignJWT({
    scope: options.scopes.join(' '),
    ...(options.tenant && { tenant_id: options.tenant }),
  })
    .setProtectedHeader({ alg: DEV_ALGORITHM, typ: 'JWT' })
    .setIssuer(DEV_ISSUER)
    .setAudience(DEV_AUDIENCE)
    .setSubject('dev-admin')
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds ?? 3600}s`)
    .sign(privateKey);
}
