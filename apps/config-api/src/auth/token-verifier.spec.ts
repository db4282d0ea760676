import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AppConfig } from '@lib/config';
import type { ApiError } from '../errors/api-error';
import { TokenVerifier } from './token-verifier';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ISSUER = 'https://id.example.com/';
const AUDIENCE = 'push-mfa';

const verifier = new TokenVerifier({
  auth: {
    mode: 'public-key',
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['ES256'],
    tenantClaim: 'tenant_id',
    scopeClaims: ['scope'],
  },
} as unknown as AppConfig);

/** A token the identity provider would sign, with `claims` over its own (and without exp if asked). */
function token(claims: Record<string, unknown> = {}, { withExpiry = true } = {}): Promise<string> {
  const jwt = new SignJWT({ tenant_id: 'acme', scope: 'write:mfa', ...claims })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt();
  return (withExpiry ? jwt.setExpirationTime('5m') : jwt).sign(privateKey);
}

const refusalOf = (authorization: string): Promise<ApiError> =>
  verifier.verify(authorization).then(
    () => Promise.reject(new Error('the token was accepted')),
    (error: ApiError) => error,
  );

describe('TokenVerifier', () => {
  it('takes a token of the identity provider, with its tenant and scopes', async () => {
    await expect(verifier.verify(`Bearer ${await token()}`)).resolves.toMatchObject({
      tenant: 'acme',
      scopes: new Set(['write:mfa']),
    });
  });

  it('refuses a token without exp, which would never expire, naming the claim', async () => {
    const refused = await refusalOf(`Bearer ${await token({}, { withExpiry: false })}`);
    expect([refused.status, refused.error]).toEqual([401, 'invalid_token']);
    expect(refused.description).toContain('exp');
  });

  it('refuses a tenant claim that is not a tenant id, before it reaches the store or Kafka', async () => {
    for (const tenant of ['a b', '-x', '../x', 'a'.repeat(65), 42, null]) {
      const refused = await refusalOf(`Bearer ${await token({ tenant_id: tenant })}`);
      expect([refused.status, refused.description]).toEqual([
        401,
        "The token's tenant_id claim is not a valid tenant id.",
      ]);
    }
  });
});
