import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { errors, exportJWK, generateKeyPair, JWK, jwtVerify, SignJWT } from 'jose';
import { JWKS_FAILURE_BACKOFF_MS, JWKS_MAX_AGE_MS, JWKS_STALE_GRACE_MS, JwksKeys } from './jwks-keys';

const COOLDOWN_MS = 30_000;
const FETCH_TIMEOUT_MS = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Long enough for a fetch behind a request to reach the loopback server (and come back). */
const BACKGROUND_FETCH_MS = 200;

/** An identity provider's JWKS endpoint on loopback: it counts fetches and can be made to fail. */
class KeySetServer {
  fetches = 0;
  /** 0 for no answer at all (the fetch times out); -1 for headers, then a body that stalls. */
  status = 200;
  keys: JWK[] = [];
  private server?: Server;

  async start(): Promise<URL> {
    this.server = createServer((_request, response) => {
      this.fetches++;
      if (this.status === 0) return;
      if (this.status === -1) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"keys":[');
        return;
      }
      response.writeHead(this.status, { 'content-type': 'application/json' });
      response.end(this.status === 200 ? JSON.stringify({ keys: this.keys }) : '{"error":"busy"}');
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return new URL(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server?.close(() => resolve()));
  }
}

async function signingKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256' };
  const token = () =>
    new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setExpirationTime('5m').sign(privateKey);
  return { jwk, token };
}

describe('JwksKeys: the identity provider’s key set, fetched at a bounded rate whether the provider answers or not', () => {
  const idp = new KeySetServer();
  let url: URL;
  let clock: number;
  let keys: JwksKeys;
  let current: Awaited<ReturnType<typeof signingKey>>;
  let madeUp: Awaited<ReturnType<typeof signingKey>>;
  const verify = async (token: Promise<string>) => jwtVerify(await token, keys.getKey);
  const outcome = (token: Promise<string>) =>
    verify(token).then(
      () => 'verified',
      (error: Error) => error.constructor.name,
    );

  beforeAll(async () => {
    Logger.overrideLogger(false);
    url = await idp.start();
    current = await signingKey('current');
    madeUp = await signingKey('made-up');
  });
  afterAll(() => idp.stop());
  beforeEach(async () => {
    idp.status = 200;
    idp.keys = [current.jwk];
    clock = 1_000_000;
    keys = new JwksKeys(url, COOLDOWN_MS, { now: () => clock, timeoutMs: FETCH_TIMEOUT_MS });
    await verify(current.token());
    idp.fetches = 0;
  });

  it('fetches again for an unknown kid once per cooldown while the provider answers', async () => {
    for (let i = 0; i < 50; i++) expect(await outcome(madeUp.token())).toBe('JWKSNoMatchingKey');
    expect(idp.fetches).toBe(0);
    clock += COOLDOWN_MS;
    for (let i = 0; i < 50; i++) expect(await outcome(madeUp.token())).toBe('JWKSNoMatchingKey');
    expect(idp.fetches).toBe(1);
  });

  it('a key the provider has just added verifies after the cooldown', async () => {
    const added = await signingKey('added');
    idp.keys = [current.jwk, added.jwk];
    clock += COOLDOWN_MS;
    expect(await outcome(added.token())).toBe('verified');
  });

  it('while the provider fails, made-up kids start one fetch per backoff, not one each, and valid tokens still pass', async () => {
    idp.status = 503;
    clock += COOLDOWN_MS;
    const answers = await Promise.all(Array.from({ length: 200 }, () => outcome(madeUp.token())));
    // A new key cannot be told from a made-up one while the provider fails: 503 (jose's fetch error).
    expect(new Set(answers)).toEqual(new Set(['KeySetUnavailableError']));
    expect(idp.fetches).toBe(1);
    for (let i = 0; i < 50; i++) await outcome(madeUp.token());
    expect(await outcome(current.token())).toBe('verified');
    expect(idp.fetches).toBe(1);
    clock += JWKS_FAILURE_BACKOFF_MS;
    await Promise.all(Array.from({ length: 50 }, () => outcome(madeUp.token())));
    expect(idp.fetches).toBe(1); // the cooldown (30 s) is longer than the backoff
    clock += COOLDOWN_MS;
    await Promise.all(Array.from({ length: 50 }, () => outcome(madeUp.token())));
    expect(idp.fetches).toBe(2);
  });

  it('a set older than 10 minutes still checks tokens while the provider fails, for an hour, trying again every 5 s', async () => {
    idp.status = 503;
    clock += JWKS_MAX_AGE_MS;
    for (let i = 0; i < 100; i++) expect(await outcome(current.token())).toBe('verified');
    await sleep(BACKGROUND_FETCH_MS); // the refresh behind them
    expect(idp.fetches).toBe(1);
    clock += JWKS_FAILURE_BACKOFF_MS;
    for (let i = 0; i < 100; i++) expect(await outcome(current.token())).toBe('verified');
    await sleep(BACKGROUND_FETCH_MS);
    expect(idp.fetches).toBe(2);

    clock += JWKS_STALE_GRACE_MS;
    expect(await outcome(current.token())).toBe('KeySetUnavailableError');
    expect(idp.fetches).toBe(3);

    idp.status = 200;
    clock += JWKS_FAILURE_BACKOFF_MS;
    expect(await outcome(current.token())).toBe('verified');
    expect(idp.fetches).toBe(4);
  });

  it('a provider that does not answer at all holds no request: a usable set is refreshed behind them, and again only 5 s after that fetch gave up', async () => {
    idp.status = 0;
    clock += JWKS_MAX_AGE_MS;
    const started = performance.now();
    for (let i = 0; i < 20; i++) expect(await outcome(current.token())).toBe('verified');
    expect(performance.now() - started).toBeLessThan(FETCH_TIMEOUT_MS);
    clock += 4000; // the fetch takes its time (jose's default timeout is 5 s)...
    await sleep(FETCH_TIMEOUT_MS + 100); // ...and gives up
    clock += 2000; // 6 s after it started, 2 s after it gave up
    for (let i = 0; i < 20; i++) expect(await outcome(current.token())).toBe('verified');
    await sleep(BACKGROUND_FETCH_MS);
    expect(idp.fetches).toBe(1);
    clock += 3000; // 5 s after it gave up
    expect(await outcome(current.token())).toBe('verified');
    await sleep(BACKGROUND_FETCH_MS);
    expect(idp.fetches).toBe(2);
  });

  it('a body that stalls after the headers times out like a fetch with no answer, and later fetches still happen', async () => {
    idp.status = -1;
    keys = new JwksKeys(url, COOLDOWN_MS, { now: () => clock, timeoutMs: FETCH_TIMEOUT_MS });
    expect(await outcome(current.token())).toBe('KeySetUnavailableError');
    idp.status = 200;
    clock += JWKS_FAILURE_BACKOFF_MS;
    expect(await outcome(current.token())).toBe('verified');
    expect(idp.fetches).toBe(2);
  });

  it('never fetched and the provider failing: 503s, one fetch per backoff', async () => {
    idp.status = 503;
    keys = new JwksKeys(url, COOLDOWN_MS, { now: () => clock, timeoutMs: FETCH_TIMEOUT_MS });
    const answers = await Promise.all(Array.from({ length: 100 }, () => outcome(current.token())));
    expect(new Set(answers)).toEqual(new Set(['KeySetUnavailableError']));
    expect(idp.fetches).toBe(1);
    await expect(verify(current.token())).rejects.toThrow(/cannot be fetched: it answered 503/);
    expect(idp.fetches).toBe(1);
    idp.status = 200;
    clock += JWKS_FAILURE_BACKOFF_MS;
    expect(await outcome(current.token())).toBe('verified');
    expect(idp.fetches).toBe(2);
  });

  it('a token of a key the provider dropped is refused once the set is fetched again, behind the first request after 10 minutes', async () => {
    idp.keys = [madeUp.jwk];
    clock += JWKS_MAX_AGE_MS;
    expect(await outcome(current.token())).toBe('verified');
    await sleep(BACKGROUND_FETCH_MS);
    await expect(verify(current.token())).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(await outcome(madeUp.token())).toBe('verified');
  });
});
