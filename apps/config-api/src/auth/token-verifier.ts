import { Inject, Injectable } from '@nestjs/common';
import { createPublicKey, KeyObject } from 'node:crypto';
import { errors, JWTPayload, jwtVerify } from 'jose';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { ApiError } from '../errors/api-error';
import { DEV_ALGORITHM, DEV_AUDIENCE, DEV_ISSUER, loadOrCreateDevSigningKey } from './dev-signing-key';
import { TENANT_ID_PATTERN } from '@lib/contracts';
import { JwksKeys, KeySetUnavailableError } from './jwks-keys';
import type { Principal } from './principal';

const TENANT_ID = new RegExp(TENANT_ID_PATTERN);

type KeySource = KeyObject | JwksKeys['getKey'];

/**
 * Verifies bearer tokens: signature against a JWKS (cached, refetched on an unknown kid) or a
 * configured public key, only with the configured algorithms (so `none` and HS256-with-the-public-key
 * never pass), and iss, aud, exp and nbf.
 */
@Injectable()
export class TokenVerifier {
  private readonly keys: KeySource;
  private readonly options: { issuer: string; audience: string; algorithms: string[] };
  private readonly tenantClaim: string;
  private readonly defaultTenant?: string;
  private readonly scopeClaims: string[];

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const { auth } = config;
    this.tenantClaim = auth.tenantClaim;
    this.defaultTenant = auth.defaultTenant;
    this.scopeClaims = auth.scopeClaims;
    if (auth.mode === 'dev') {
      this.keys = loadOrCreateDevSigningKey(config.localStateDir).publicKey;
      this.options = { issuer: DEV_ISSUER, audience: DEV_AUDIENCE, algorithms: [DEV_ALGORITHM] };
      return;
    }
    this.options = { issuer: auth.issuer, audience: auth.audience, algorithms: auth.algorithms };
    this.keys =
      auth.mode === 'jwks'
        ? new JwksKeys(new URL(auth.jwksUri as string), auth.jwksCooldownMs).getKey
        : createPublicKey(auth.publicKeyPem as string);
  }

  async verify(authorization: string | undefined): Promise<Principal> {
    // The scheme's name is case-insensitive (RFC 9110 11.1); the token's characters already allow both cases.
    const match = /^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i.exec(authorization ?? '');
    if (!match) throw unauthorized('Send "Authorization: Bearer <access token>".');
    let payload: JWTPayload;
    try {
      // jose's overloads differ for a key and a key set; both are valid here.
      ({ payload } = await jwtVerify(match[1], this.keys as KeyObject, {
        ...this.options,
        requiredClaims: ['exp'],
        clockTolerance: 5,
      }));
    } catch (error) {
      // The identity provider's key set being unreachable says nothing about the token: not a 401.
      if (error instanceof KeySetUnavailableError)
        throw new ApiError(
          503,
          'service_unavailable',
          'The token signing keys cannot be fetched right now; retry shortly.',
          undefined,
          {
            'Retry-After': '5',
          },
        );
      throw unauthorized(describeJoseError(error));
    }
    return this.toPrincipal(payload);
  }

  private toPrincipal(payload: JWTPayload): Principal {
    const claimed = payload[this.tenantClaim];
    // Only a missing claim takes the default: a null one is a claim that is not a tenant id.
    const tenant = claimed === undefined ? this.defaultTenant : claimed;
    if (tenant === undefined)
      throw unauthorized(
        `The token has no ${this.tenantClaim} claim: the identity provider must name the tenant (a single-tenant deployment sets AUTH_DEFAULT_TENANT instead).`,
      );
    if (typeof tenant !== 'string' || !TENANT_ID.test(tenant))
      throw unauthorized(`The token's ${this.tenantClaim} claim is not a valid tenant id.`);
    const scopes = new Set<string>();
    for (const claim of this.scopeClaims) {
      const granted = payload[claim];
      const listed = typeof granted === 'string' ? granted.split(' ') : Array.isArray(granted) ? granted : [];
      listed.forEach((scope) => typeof scope === 'string' && scope && scopes.add(scope));
    }
    return { subject: payload.sub ?? '', tenant, scopes };
  }
}

function unauthorized(description: string): ApiError {
  return new ApiError(401, 'invalid_token', description, undefined, {
    'WWW-Authenticate': `Bearer error="invalid_token", error_description="${description.replace(/"/g, "'")}"`,
  });
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'The token has expired.';
  if (error instanceof errors.JWTClaimValidationFailed)
    return `The token's ${error.claim} claim is not accepted.`;
  if (error instanceof errors.JOSEAlgNotAllowed)
    return 'The token is signed with an algorithm that is not accepted.';
  if (error instanceof errors.JWKSNoMatchingKey) return 'The token is signed with an unknown key.';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'The token signature is invalid.';
  return 'The token could not be verified.';
}
