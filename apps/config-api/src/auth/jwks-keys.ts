import { performance } from 'node:perf_hooks';
import { Logger } from '@nestjs/common';
import {
  createLocalJWKSet,
  errors,
  FlattenedJWSInput,
  JSONWebKeySet,
  JWSHeaderParameters,
  KeyLike,
} from 'jose';

/** A key set older than this is fetched again, behind the next request (jose's default age). */
export const JWKS_MAX_AGE_MS = 10 * 60_000;
/** After a failed fetch, the next waits this long: the Retry-After of the 503 answered meanwhile. */
export const JWKS_FAILURE_BACKOFF_MS = 5_000;
/**
 * While the identity provider fails, the last key set it gave still checks tokens for this long: its
 * keys change seldom, and an outage of the provider must not lock every admin out at once.
 */
export const JWKS_STALE_GRACE_MS = 60 * 60_000;

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

/** The key set could not be had (no answer, an error, no key set in it): says nothing of a token. */
export class KeySetUnavailableError extends Error {
  constructor(reason: string) {
    super(`the key set of AUTH_JWKS_URI cannot be fetched: ${reason}`);
    this.name = 'KeySetUnavailableError';
  }
}

/**
 * The identity provider's key set, fetched and kept by this policy rather than jose's remote set. jose
 * counts its cooldown and the set's age from the last *successful* fetch, so while the provider fails,
 * every token with a made-up kid would start a fetch (a flood exactly when the provider asks for
 * less), and once the set is 10 minutes old every token would get 503; and its timeout ends with the
 * headers, so a body that stalls would hold its one fetch, and every later one, for good.
 *
 * Here every fetch attempt counts: at most one per cooldown for unknown kids and one per 5 s after a
 * failed one ends; the last good set serves for an hour of failures, refreshed in the background
 * meanwhile (a provider that hangs would otherwise hold every request for its fetch's timeout). Times
 * are monotonic: a step of the wall clock neither freezes nor hurries the fetches.
 */
export class JwksKeys {
  private readonly logger = new Logger('JwksKeys');
  private local?: LocalKeySet;
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  /** The last attempt's error, until one succeeds. */
  private failure?: unknown;
  private pending?: Promise<void>;

  private readonly now: () => number;
  private readonly timeoutMs: number;

  constructor(
    private readonly url: URL,
    private readonly cooldownMs: number,
    { now = () => performance.now(), timeoutMs = 5000 }: { now?: () => number; timeoutMs?: number } = {},
  ) {
    this.now = now;
    this.timeoutMs = timeoutMs;
  }

  /** For jwtVerify. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<KeyLike> => {
    const age = this.now() - this.fetchedAt;
    // A set still usable is refreshed behind the request, not before it.
    if (age >= JWKS_STALE_GRACE_MS) await this.refresh();
    else if (age >= JWKS_MAX_AGE_MS) void this.refresh();
    try {
      return await this.usable()(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // A kid not in the set may be a key the provider has just added: look again, once per cooldown
      // (or wait for the look in flight).
      if (this.pending || this.mayFetch(this.cooldownMs)) await this.refresh();
      else if (this.failure === undefined) throw error;
      // The provider failing, a new key cannot be told from a made-up one: 503, not 401.
      if (this.failure !== undefined) throw this.failure;
      return this.usable()(header, token);
    }
  };

  private usable(): LocalKeySet {
    if (this.local && this.now() - this.fetchedAt < JWKS_STALE_GRACE_MS) return this.local;
    throw this.failure ?? new KeySetUnavailableError('none fetched yet');
  }

  private mayFetch(sinceAttemptMs: number): boolean {
    const wait =
      this.failure === undefined ? sinceAttemptMs : Math.max(sinceAttemptMs, JWKS_FAILURE_BACKOFF_MS);
    return this.now() >= this.attemptedAt + wait;
  }

  /** One fetch at a time, none during the backoff after a failure; never throws (see `failure`). */
  private async refresh(): Promise<void> {
    if (!this.pending && this.mayFetch(0)) {
      this.attemptedAt = this.now();
      this.pending = this.fetchKeySet()
        .then(
          (keySet) => this.fetched(keySet),
          (error: unknown) => this.failed(error),
        )
        .finally(() => {
          // The backoff after a failure counts from its end: a fetch that timed out took 5 s itself.
          this.attemptedAt = this.now();
          this.pending = undefined;
        });
    }
    await this.pending;
  }

  /**
   * One fetch, the body included, within the timeout; no redirect is followed (nor did jose). Every
   * failure is a KeySetUnavailableError, which the token verifier answers 503 for.
   */
  private async fetchKeySet(): Promise<LocalKeySet> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let json: unknown;
    try {
      const response = await fetch(this.url, {
        signal,
        redirect: 'error',
        headers: { accept: 'application/json' },
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new KeySetUnavailableError(`it answered ${response.status}`);
      }
      json = await response.json();
    } catch (error) {
      if (error instanceof KeySetUnavailableError) throw error;
      if (signal.aborted) throw new KeySetUnavailableError(`no answer within ${this.timeoutMs} ms`);
      if (error instanceof SyntaxError) throw new KeySetUnavailableError('its answer is not JSON');
      // fetch's TypeError says "fetch failed"; its cause says why (ECONNREFUSED, a certificate...).
      const { message, cause } = error as Error;
      throw new KeySetUnavailableError((cause as Error | undefined)?.message ?? message);
    }
    try {
      return createLocalJWKSet(json as JSONWebKeySet);
    } catch {
      throw new KeySetUnavailableError('its answer is no JSON Web Key Set');
    }
  }

  private fetched(keySet: LocalKeySet): void {
    if (this.failure !== undefined) this.logger.log('The key set of AUTH_JWKS_URI is fetched again');
    this.local = keySet;
    this.fetchedAt = this.now();
    this.failure = undefined;
  }

  private failed(error: unknown): void {
    if (this.failure === undefined)
      this.logger.warn(
        `${(error as Error).message}; ${
          this.local && this.now() - this.fetchedAt < JWKS_STALE_GRACE_MS
            ? `tokens are checked against the one fetched ${Math.round((this.now() - this.fetchedAt) / 1000)} s ago, for up to an hour after it was fetched`
            : 'tokens get 503 until it can be fetched'
        }. Trying again at most every ${JWKS_FAILURE_BACKOFF_MS / 1000} s.`,
      );
    this.failure = error;
  }
}
