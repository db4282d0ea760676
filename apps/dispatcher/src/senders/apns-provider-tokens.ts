import { createHash } from 'node:crypto';
import type { Provider } from '@parse/node-apn';
import type { ApnsSettings } from '@lib/mfa-config';

/** node-apn's signed provider token as its client keeps it (lib/credentials/token/prepare.js). */
interface NodeApnToken {
  generation: number;
  current: string;
  regenerate(generation: number): void;
  isExpired(validSeconds: number): boolean;
}

/** Where node-apn 8 keeps it: the Provider's client's config. */
interface ProviderInternals {
  client?: { config?: { token?: unknown } };
}

/**
 * Apple refuses tokens refreshed more often than every 20 minutes: once no Provider uses a key's token,
 * it is kept this long, so a Provider built again (the next send after an idle close) presents it.
 */
const KEPT_UNUSED_MS = 20 * 60_000;

interface SharedToken {
  token: NodeApnToken;
  /** Providers using it now. */
  users: number;
  /** Forgets it once unused for KEPT_UNUSED_MS: it holds its key's signing key. */
  forget?: NodeJS.Timeout;
}

/**
 * One APNs provider token per key in a process, however many Providers use the key. node-apn signs a
 * token when a Provider is built and keeps it for that Provider only; the dispatcher builds one per
 * configuration version, again after an idle close, and per tenant, so a tenant pushing every few
 * minutes would present a new token each time. Apple asks for a token to be refreshed no more than
 * once every 20 minutes and answers 429 TooManyProviderTokenUpdates otherwise. node-apn's token
 * refreshes itself in place (once 55 minutes old, or on ExpiredProviderToken) and only once per
 * generation, so Providers of one key can share it.
 */
export class ApnsProviderTokens {
  private readonly tokens = new Map<string, SharedToken>();
  private readonly keyOf = new WeakMap<Provider, string>();

  /** Gives `provider` the token of its key already in use, or keeps its own as that key's token. */
  share(provider: Provider, settings: ApnsSettings): void {
    const config = (provider as unknown as ProviderInternals).client?.config;
    // A node-apn keeping its token elsewhere: the Provider signs its own, as before.
    if (!config || !isNodeApnToken(config.token)) return;
    const key = tokenKey(settings);
    let shared = this.tokens.get(key);
    if (shared) config.token = shared.token;
    else this.tokens.set(key, (shared = { token: config.token, users: 0 }));
    clearTimeout(shared.forget);
    shared.forget = undefined;
    shared.users += 1;
    this.keyOf.set(provider, key);
  }

  /** `provider` is shut down: its key's token is forgotten once no Provider has used it for a while. */
  release(provider: Provider): void {
    const key = this.keyOf.get(provider);
    this.keyOf.delete(provider);
    const shared = key === undefined ? undefined : this.tokens.get(key);
    if (!shared || --shared.users > 0) return;
    shared.forget = setTimeout(() => {
      if (this.tokens.get(key!) === shared && shared.users === 0) this.tokens.delete(key!);
    }, KEPT_UNUSED_MS).unref();
  }

  /** How many keys' tokens are kept. */
  get size(): number {
    return this.tokens.size;
  }
}

/** The key itself, not only its id: a key id uploaded again with another key must not get the old token. */
function tokenKey(settings: ApnsSettings): string {
  const keyHash = createHash('sha256').update(settings.key).digest('base64url');
  return `${settings.team_id}/${settings.key_id}/${keyHash}`;
}

function isNodeApnToken(token: unknown): token is NodeApnToken {
  const candidate = token as Partial<NodeApnToken> | null | undefined;
  return (
    typeof candidate?.current === 'string' &&
    typeof candidate.generation === 'number' &&
    typeof candidate.regenerate === 'function' &&
    typeof candidate.isExpired === 'function'
  );
}
