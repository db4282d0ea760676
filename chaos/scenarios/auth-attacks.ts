/**
 * auth: bad tokens, missing scopes and other tenants' tokens against every route of the MFA API, on a
 * config-api trusting a public key and on one trusting a JWKS. Each attack must be refused with the
 * right status, and the victim tenant's configuration must come out of it unchanged.
 */
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { exportJWK, JWK, SignJWT } from 'jose';
import { pushConfigBody } from '../../test/fixtures/mfa-config.builder';
import {
  ALL_SCOPES,
  ApiAnswer,
  ApiClient,
  ApiRequest,
  startTrustingApi,
  TokenIssuer,
} from '../support/api-client';
import { ChaosContext, ChaosSize, log } from '../support/chaos-context';
import { Figure } from '../support/figures';

const SCENARIO = 'auth';
const NOTED = 6;

interface Route {
  method: ApiRequest['method'];
  path: string;
  scope: string;
}

const ROUTES: Route[] = [
  { method: 'POST', path: '/mfa', scope: 'write:mfa' },
  { method: 'POST', path: '/api/v1/mfa', scope: 'write:mfa' },
  { method: 'GET', path: '/mfa', scope: 'read:mfa' },
  { method: 'GET', path: '/api/v1/mfa', scope: 'read:mfa' },
  { method: 'GET', path: '/mfa/push', scope: 'read:mfa' },
  { method: 'GET', path: '/api/v1/mfa/push', scope: 'read:mfa' },
  { method: 'PATCH', path: '/mfa/push', scope: 'update:mfa' },
  { method: 'PATCH', path: '/api/v1/mfa/push', scope: 'update:mfa' },
  { method: 'DELETE', path: '/mfa/push', scope: 'delete:mfa' },
  { method: 'DELETE', path: '/api/v1/mfa/push', scope: 'delete:mfa' },
];

/** An Authorization header value that must not get anyone in (undefined: none sent). */
interface BadToken {
  name: string;
  authorization: string | undefined;
  /** Which API it is aimed at: the public-key one or the JWKS one. */
  target: 'public-key' | 'jwks';
}

export async function authAttacks(ctx: ChaosContext, _size: ChaosSize): Promise<Figure[]> {
  const issuer = new TokenIssuer();
  const jwks = await JwksServer.start();
  try {
    const publicKeyApi = ApiClient.of(await startTrustingApi(ctx, SCENARIO, issuer));
    const jwksApi = ApiClient.of(
      await startTrustingApi(ctx, SCENARIO, issuer, { AUTH_MODE: 'jwks', AUTH_JWKS_URI: jwks.url }),
    );
    const attack = new AuthAttack(issuer, jwks, { 'public-key': publicKeyApi, jwks: jwksApi }, ctx.runId);
    await attack.createVictim();
    await attack.checkControls();
    for (const badToken of await attack.badTokens()) await attack.sendBadToken(badToken);
    await attack.sendWithoutScope();
    await attack.crossTenant();
    await attack.checkVictimUnchanged();
    return attack.figures();
  } finally {
    await jwks.stop();
  }
}

/** The identity provider's key set, for AUTH_MODE=jwks: one ES256 key under a known kid. */
class JwksServer {
  static readonly KID = 'chaos-key-1';

  private constructor(
    private readonly server: Server,
    readonly privateKey: KeyObject,
    readonly url: string,
  ) {}

  static async start(): Promise<JwksServer> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: JwksServer.KID, alg: 'ES256', use: 'sig' };
    const server = createServer((_, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new JwksServer(server, privateKey, `http://127.0.0.1:${port}/.well-known/jwks.json`);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const now = () => Math.floor(Date.now() / 1000);
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const bearer = (token: string) => `Bearer ${token}`;
const errorOf = (answer: ApiAnswer) => (answer.body as { error?: string } | undefined)?.error;
const descriptionOf = (answer: ApiAnswer) =>
  String((answer.body as { error_description?: string } | undefined)?.error_description);

class AuthAttack {
  private readonly victim: string;
  private victimBefore?: unknown;
  private sent = 0;
  private controlsRefused = 0;
  private readonly letThrough: string[] = [];
  private readonly wrongStatus: string[] = [];
  private readonly crossTenantHits: string[] = [];
  private victimChanged = 0;
  /** A valid create body, made once (its RSA key takes a while). */
  private readonly createBody = pushConfigBody();

  constructor(
    private readonly issuer: TokenIssuer,
    private readonly jwks: JwksServer,
    private readonly apis: Record<BadToken['target'], ApiClient>,
    runId: string,
  ) {
    this.victim = `victim-${runId}`;
  }

  /** Claims a good token of the victim would carry: every scope, so only the flaw can stop it. */
  private claims(extra: Record<string, unknown> = {}) {
    return {
      scope: ALL_SCOPES.join(' '),
      tenant_id: this.victim,
      iss: this.issuer.issuer,
      aud: this.issuer.audience,
      iat: now(),
      exp: now() + 300,
      ...extra,
    };
  }

  private sign(
    claims: Record<string, unknown>,
    key: KeyObject | Uint8Array,
    header: Record<string, unknown>,
  ) {
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...header }).sign(key);
  }

  /** A token signed by the trusted key with the claims changed: each must be refused on its own. */
  private trustedWith(extra: Record<string, unknown>): Promise<string> {
    return this.sign(this.claims(extra), this.issuer.privateKey, {});
  }

  async createVictim(): Promise<void> {
    const body = pushConfigBody({ settings: { enabled_clients: [`only-${this.victim}`] } });
    const created = await this.asVictim({ method: 'POST', path: '/mfa', json: body });
    if (created.status !== 201)
      throw new Error(`could not create the victim: ${created.status} ${created.text}`);
    this.victimBefore = (await this.asVictim({ method: 'GET', path: '/mfa/push' })).body;
  }

  private async asVictim(request: ApiRequest, target: BadToken['target'] = 'public-key'): Promise<ApiAnswer> {
    const token =
      target === 'jwks'
        ? await this.sign(this.claims(), this.jwks.privateKey, { kid: JwksServer.KID })
        : await this.issuer.token(this.victim);
    return this.apis[target].send({ ...request, token });
  }

  /** Good tokens get in on both APIs: otherwise every refusal below would prove nothing. */
  async checkControls(): Promise<void> {
    for (const target of ['public-key', 'jwks'] as const)
      for (const path of ['/mfa/push', '/api/v1/mfa/push']) {
        const answer = await this.asVictim({ method: 'GET', path }, target);
        if (answer.status !== 200) this.controlsRefused += 1;
      }
    if (this.controlsRefused) log(`${SCENARIO}: ${this.controlsRefused} good-token controls refused`);
  }

  async badTokens(): Promise<BadToken[]> {
    const onPublicKey = ([name, authorization]: [string, string | undefined]): BadToken => ({
      name,
      authorization,
      target: 'public-key',
    });
    const onJwks = ([name, authorization]: [string, string | undefined]): BadToken => ({
      name,
      authorization,
      target: 'jwks',
    });
    return [
      ...(await this.malformed()).map(onPublicKey),
      ...(await this.badClaims()).map(onPublicKey),
      ...(await this.badSignatures()).map(onPublicKey),
      ...(await this.badKeyIds()).map(onJwks),
    ];
  }

  private async malformed(): Promise<[string, string | undefined][]> {
    return [
      ['no Authorization header', undefined],
      ['Basic credentials', 'Basic YWRtaW46YWRtaW4='],
      ['not a JWT', 'Bearer not-a-token'],
      ['empty bearer', 'Bearer '],
      ['token without the Bearer scheme', await this.trustedWith({})],
    ];
  }

  /** Signed by the trusted key, so only the claim can stop each one. */
  private async badClaims(): Promise<[string, string][]> {
    const claims: [string, Record<string, unknown>][] = [
      ['expired', { iat: now() - 3600, exp: now() - 120 }],
      ['not yet valid', { nbf: now() + 600 }],
      ['wrong issuer', { iss: 'https://evil.example/' }],
      ['wrong audience', { aud: 'https://other-api.example/' }],
      ['no exp claim', { exp: undefined }],
      ['invalid tenant claim', { tenant_id: '../victim' }],
    ];
    return Promise.all(claims.map(async ([name, extra]) => [name, bearer(await this.trustedWith(extra))]));
  }

  /** Good claims under no signature, a forged one, or one made for other claims. */
  private async badSignatures(): Promise<[string, string][]> {
    const signature = (await this.trustedWith({})).split('.')[2];
    const [otherHeader, , otherSignature] = (await this.issuer.token(`other-${this.victim}`)).split('.');
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const attackerRsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const forged = (key: KeyObject | Uint8Array, header: Record<string, unknown>) =>
      this.sign(this.claims(), key, header).then(bearer);
    return [
      ['alg: none', bearer(`${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(this.claims())}.`)],
      [
        'alg: none, signature kept',
        bearer(`${base64url({ alg: 'none' })}.${base64url(this.claims())}.${signature}`),
      ],
      [
        'HS256 signed with the public key',
        await forged(Buffer.from(this.issuer.publicPem), { alg: 'HS256' }),
      ],
      ['signed by an unknown key', await forged(attacker.privateKey, {})],
      ['RS256 with an unknown RSA key', await forged(attackerRsa, { alg: 'RS256' })],
      // Another tenant's valid token with its claims rewritten to the victim's, signature kept.
      ['tenant claim tampered', bearer(`${otherHeader}.${base64url(this.claims())}.${otherSignature}`)],
      [
        'attacker key embedded as jwk',
        await forged(attacker.privateKey, { jwk: await exportJWK(attacker.publicKey) }),
      ],
      [
        'jku pointing at the attacker',
        await forged(attacker.privateKey, { jku: 'http://127.0.0.1:9/jwks.json' }),
      ],
    ];
  }

  /** For the JWKS API: a kid it does not know, its kid on a foreign key, and no kid at all. */
  private async badKeyIds(): Promise<[string, string][]> {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    return [
      ['unknown kid', bearer(await this.sign(this.claims(), attacker, { kid: 'rotated-out' }))],
      ['known kid, unknown key', bearer(await this.sign(this.claims(), attacker, { kid: JwksServer.KID }))],
      ['public-key issuer token on the JWKS API', bearer(await this.issuer.token(this.victim))],
    ];
  }

  /** A bad token on every route: 401, with a Bearer challenge and the error shape. */
  async sendBadToken(badToken: BadToken): Promise<void> {
    for (const route of ROUTES) {
      const headers: Record<string, string> =
        badToken.authorization === undefined ? {} : { authorization: badToken.authorization };
      const answer = await this.apis[badToken.target].send({ ...this.requestFor(route), headers });
      const label = `${badToken.name} on ${route.method} ${route.path}${badToken.target === 'jwks' ? ' (JWKS)' : ''}`;
      this.record(label, answer, 401, refusedWith(answer, 401, 'invalid_token'));
    }
  }

  /** A good token of the victim without the route's scope (or with look-alikes of it): 403 naming it. */
  async sendWithoutScope(): Promise<void> {
    for (const route of ROUTES) {
      const grants: [string, string[]][] = [
        ['every other scope', ALL_SCOPES.filter((scope) => scope !== route.scope)],
        ['no scope at all', []],
        [
          'look-alike scopes',
          [`${route.scope}:all`, route.scope.toUpperCase(), `x${route.scope}`, '*', 'admin'],
        ],
      ];
      for (const [name, scopes] of grants) {
        const token = await this.trustedWith({ scope: scopes.join(' ') });
        const answer = await this.apis['public-key'].send({ ...this.requestFor(route), token });
        const problem =
          refusedWith(answer, 403, 'insufficient_scope') ??
          (descriptionOf(answer).includes(route.scope) ? undefined : 'the message does not name the scope');
        this.record(`${name} on ${route.method} ${route.path}`, answer, 403, problem);
      }
    }
  }

  /** Other tenants with every scope: the victim's configuration is not theirs to see or change. */
  async crossTenant(): Promise<void> {
    // A token naming no tenant (in the claim the API reads) has none: refused, never a default tenant.
    const attackers: [string, Record<string, unknown>, 'tenant' | 'none'][] = [
      ['another tenant', { tenant_id: `attacker-${this.victim}` }, 'tenant'],
      ['the tenant id in upper case', { tenant_id: this.victim.toUpperCase() }, 'tenant'],
      ['the tenant id with a suffix', { tenant_id: `${this.victim}.` }, 'tenant'],
      ['no tenant claim', { tenant_id: undefined }, 'none'],
      [
        'the victim in another claim',
        { tenant_id: undefined, tenant: this.victim, org_id: this.victim },
        'none',
      ],
    ];
    for (const [name, extra, tenant] of attackers) {
      const token = await this.trustedWith(extra);
      for (const route of ROUTES.filter((candidate) => candidate.method !== 'POST'))
        await this.crossTenantOnce(name, route, token, tenant);
    }
  }

  /**
   * With a tenant of its own, the list must be empty (200) and the victim's configuration absent (404);
   * without one, 401. Anything showing the victim's configuration is a hit.
   */
  private async crossTenantOnce(
    name: string,
    route: Route,
    token: string,
    tenant: 'tenant' | 'none',
  ): Promise<void> {
    const answer = await this.apis['public-key'].send({ ...this.requestFor(route), token });
    const label = `${name} on ${route.method} ${route.path}`;
    this.sent += 1;
    const isList = route.method === 'GET' && !route.path.endsWith('/push');
    const listed = (answer.body as { total?: number } | undefined)?.total;
    const hit =
      answer.text.includes(`only-${this.victim}`) ||
      (isList ? answer.status === 200 && listed !== 0 : answer.status >= 200 && answer.status < 300);
    const expected = tenant === 'none' ? 401 : isList ? 200 : 404;
    if (hit) this.crossTenantHits.push(`${label}: ${answer.status} ${answer.text.slice(0, 120)}`);
    else if (answer.status !== expected)
      this.wrongStatus.push(`${label}: expected ${expected}, got ${answer.status}`);
  }

  async checkVictimUnchanged(): Promise<void> {
    const after = await this.asVictim({ method: 'GET', path: '/mfa/push' });
    if (after.status !== 200 || JSON.stringify(after.body) !== JSON.stringify(this.victimBefore)) {
      this.victimChanged = 1;
      log(`${SCENARIO}: the victim's configuration changed: ${after.status} ${after.text.slice(0, 300)}`);
    }
  }

  private requestFor(route: Route): ApiRequest {
    const body =
      route.method === 'POST' ? this.createBody : route.method === 'PATCH' ? { enabled: false } : undefined;
    return { method: route.method, path: route.path, json: body };
  }

  /** `problem`: what is wrong with a refusal; any answer a route gives only past the guard is a let-through. */
  private record(label: string, answer: ApiAnswer, expected: number, problem: string | undefined): void {
    this.sent += 1;
    const pastTheGuard =
      (answer.status >= 200 && answer.status < 300) || [400, 404, 409].includes(answer.status);
    if (pastTheGuard) this.letThrough.push(`${label}: ${answer.status}`);
    else if (problem)
      this.wrongStatus.push(`${label}: expected ${expected}, got ${answer.status} (${problem})`);
  }

  figures(): Figure[] {
    for (const line of [...this.letThrough, ...this.wrongStatus, ...this.crossTenantHits])
      log(`${SCENARIO}: ${line}`);
    const figure = (name: string, found: string[]): Figure => ({
      scenario: SCENARIO,
      name,
      value: found.length,
      expect: 'zero',
      ...(found.length && { note: summarize(found) }),
    });
    return [
      { scenario: SCENARIO, name: 'attacks sent', value: this.sent },
      {
        scenario: SCENARIO,
        name: 'good-token controls refused',
        value: this.controlsRefused,
        expect: 'zero',
      },
      figure('let through', this.letThrough),
      figure('wrong status', this.wrongStatus),
      figure('cross-tenant reads/changes', this.crossTenantHits),
      {
        scenario: SCENARIO,
        name: "victim's configuration changed",
        value: this.victimChanged,
        expect: 'zero',
      },
    ];
  }
}

/** What is wrong with a refusal, or undefined: status, error code, and the challenge header. */
function refusedWith(answer: ApiAnswer, status: number, error: string): string | undefined {
  if (answer.status !== status) return errorOf(answer) ?? answer.failure ?? 'no body';
  if (errorOf(answer) !== error) return `error is not ${error}`;
  const challenge = answer.headers.get('www-authenticate') ?? '';
  if (!challenge.startsWith('Bearer') || !challenge.includes(error))
    return `WWW-Authenticate is "${challenge}"`;
  return undefined;
}

/** The distinct attacks behind a figure, routes folded: "name (n routes)". */
function summarize(found: string[]): string {
  const byAttack = new Map<string, number>();
  for (const line of found) {
    const attack = line.replace(/ on (GET|POST|PATCH|DELETE) \S+.*$/, '');
    const status = /got (\d+)|: (\d+)/.exec(line);
    const key = `${attack} → ${status?.[1] ?? status?.[2] ?? '?'}`;
    byAttack.set(key, (byAttack.get(key) ?? 0) + 1);
  }
  const shown = [...byAttack].slice(0, NOTED).map(([attack, routes]) => `${attack} (${routes} routes)`);
  return shown.join('; ') + (byAttack.size > NOTED ? `; … ${byAttack.size - NOTED} more` : '');
}
