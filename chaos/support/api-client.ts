import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { BenchContext } from '../../bench/support/context';
import type { AppProcess } from '../../bench/support/processes';

export const ALL_SCOPES = ['write:mfa', 'read:mfa', 'update:mfa', 'delete:mfa'];

/**
 * The identity provider of a scenario: an ES256 key pair made at run time, whose public half the
 * config-api trusts (AUTH_MODE=public-key), so a scenario can mint any token, good or bad.
 */
export class TokenIssuer {
  readonly issuer = 'https://idp.chaos.example/';
  readonly audience = 'https://push-mfa.chaos.example/api';
  readonly privateKey: KeyObject;
  readonly publicPem: string;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    this.publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** The config-api's environment for trusting this issuer. */
  authEnv(): Record<string, string> {
    return {
      AUTH_MODE: 'public-key',
      AUTH_PUBLIC_KEY: this.publicPem,
      AUTH_ISSUER: this.issuer,
      AUTH_AUDIENCE: this.audience,
    };
  }

  /** A token the API must accept: this issuer, this audience, five minutes, the given tenant and scopes. */
  token(tenant: string, scopes: string[] = ALL_SCOPES): Promise<string> {
    return new SignJWT({ scope: scopes.join(' '), tenant_id: tenant })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject('chaos-admin')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(this.privateKey);
  }
}

/** Starts the config-api from its production build, trusting `issuer`; `overrides` win. */
export function startTrustingApi(
  ctx: BenchContext,
  scenario: string,
  issuer: TokenIssuer,
  overrides: Record<string, string> = {},
): Promise<AppProcess> {
  return ctx.startConfigApi(scenario, ctx.database(scenario), { ...issuer.authEnv(), ...overrides });
}

export interface ApiRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  token?: string;
  /** Sent as JSON text. */
  json?: unknown;
  /** Sent as is (raw JSON text, broken JSON, other media): wins over `json`. */
  text?: string;
  /** undefined: application/json when there is a body; null: no Content-Type header at all. */
  contentType?: string | null;
  headers?: Record<string, string>;
}

export interface ApiAnswer {
  /** 0: no HTTP answer at all (connection refused or reset). */
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  body: unknown;
  /** Why there was no answer, when status is 0. */
  failure?: string;
}

/** A thin fetch wrapper for the config-api: every answer, including none, becomes an ApiAnswer. */
export class ApiClient {
  constructor(readonly baseUrl: string) {}

  static of(app: AppProcess): ApiClient {
    return new ApiClient(`http://127.0.0.1:${app.port}`);
  }

  async send(request: ApiRequest): Promise<ApiAnswer> {
    const text = request.text ?? (request.json === undefined ? undefined : JSON.stringify(request.json));
    const headers: Record<string, string> = { ...request.headers };
    if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
    if (text !== undefined && request.contentType !== null)
      headers['content-type'] = request.contentType ?? 'application/json';
    try {
      // Bytes, not a string: fetch would otherwise add text/plain when we want no Content-Type at all.
      const body = text === undefined ? undefined : new TextEncoder().encode(text);
      const response = await fetch(`${this.baseUrl}${request.path}`, {
        method: request.method,
        headers,
        body,
      });
      const answer = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        text: answer,
        body: parseOrUndefined(answer),
      };
    } catch (error) {
      return { status: 0, headers: new Headers(), text: '', body: undefined, failure: describe(error) };
    }
  }

  async ready(): Promise<boolean> {
    return (await this.send({ method: 'GET', path: '/health/ready' })).status === 200;
  }
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
