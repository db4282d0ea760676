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
 * node-apn signs a new token once one is 55 minutes old (client.js), so a token twice that old has not
 * been used for over an hour.
 */
const UNUSED_AFTER_SECONDS = 2 * 3300;
const PRUNE_EVERY_MS = 60_000;

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
  private readonly tokens = new Map<string, NodeApnToken>();
  private lastPrunedAt = Date.now();

  /** Gives `provider` the token of its key already in use, or keeps its own as that key's token. */
  share(provider: Provider, settings: ApnsSettings): void {
    const config = (provider as unknown as ProviderInternals).client?.config;
    // A node-apn keeping its token elsewhere: the Provider signs its own, as before.
    if (!config || !isNodeApnToken(config.token)) return;
    this.prune();
    const key = tokenKey(settings);
    const shared = this.tokens.get(key);
    if (shared) config.token = shared;
    else this.tokens.set(key, config.token);
  }

  /** Drops tokens no Provider uses any more: each holds its key's signing key. */
  private prune(): void {
    if (Date.now() - this.lastPrunedAt < PRUNE_EVERY_MS) return;
    this.lastPrunedAt = Date.now();
    for (const [key, token] of this.tokens)
      if (token.isExpired(UNUSED_AFTER_SECONDS)) this.tokens.delete(key);
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
