import {
  Notification,
  Provider,
  ProviderOptions,
  ResponseFailure,
  Responses,
  ResponseSent,
} from '@parse/node-apn';
import type { Http2Session } from 'node:http2';
import type { ApnsSettings } from '@lib/mfa-config';
import type { PushSandboxSettings } from '@lib/config';
import { ApnsProviderTokens } from './apns-provider-tokens';
import {
  applePresentation,
  ChallengeNotification,
  credentialsRefused,
  fail,
  PushSender,
  SendOutcome,
} from './push-sender';

// Apple's documented reasons, grouped by what the caller should do about them.
// 410: the token is no longer valid for its app; the caller drops it.
const INVALID_DEVICE = new Set(['Unregistered', 'ExpiredToken']);
// 400: the token is not for this configuration's app (`bundle_id`) or APNs environment (`production`),
// or is malformed; Apple does not say which. Every device of a tenant gets these when the configuration
// is wrong, so the caller must not drop its tokens on these alone.
const TOKEN_MISMATCH = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic']);
const INVALID_CONFIG = new Set([
  'InvalidProviderToken',
  'MissingProviderToken',
  'BadCertificate',
  'BadCertificateEnvironment',
  'Forbidden',
]);
/** The topic is the configuration's bundle_id: a new key does not fix these. */
const TOPIC_REMEDY =
  "bundle_id must be the bundle id of an app of team_id's developer account, as in Xcode: correct it with PATCH /mfa/push";
/** A 400 about the connection, not the request: worth another try (5xx, 408 and 429 are, by status). */
const CONNECTION_IDLE = 'IdleTimeout';
/** Refusals whose fix is not a new key, with what fixes them. */
const REMEDIES = new Map<string, string>([
  // node-apn signs a new token on this answer and tries again: still expired, the clock is off.
  [
    'ExpiredProviderToken',
    "check the dispatcher host's clock (NTP): Apple found a freshly signed provider token already expired",
  ],
  // Keys can be limited to one environment, or to some apps (Apple's key scoping).
  [
    'BadEnvironmentKeyIdInToken',
    'the key is limited to the other APNs environment: set production to match the app (true for App Store and TestFlight builds), or use a key enabled for both with PATCH /mfa/push',
  ],
  [
    'UnrelatedKeyIdInToken',
    "the key is not enabled for this app or environment: use a key enabled for bundle_id and production's environment with PATCH /mfa/push",
  ],
  ['TopicDisallowed', TOPIC_REMEDY],
  ['BadTopic', TOPIC_REMEDY],
  ['MissingTopic', TOPIC_REMEDY],
]);

/** node-apn's own tries after a failed request (500, 503, 429…) before it reports the failure. */
const CONNECTION_RETRY_LIMIT = 3;
/**
 * node-apn's worst case for one send, in request timeouts: the first try and its retries, each up to
 * one; after a last 500, the graceful close of its session, where other streams finish (one more);
 * and one of margin, since a stream's timeout restarts on activity.
 */
const LOST_AFTER_REQUEST_TIMEOUTS = CONNECTION_RETRY_LIMIT + 3;

/**
 * APNs through @parse/node-apn with token (.p8) auth: one Provider per configuration, opened on first
 * send and kept for every later send; shut down when idle or replaced (a Provider not shut down leaks
 * its session). Providers of one key share its provider token (ApnsProviderTokens).
 */
export class ApnsSender implements PushSender {
  readonly provider = 'apns' as const;
  private client?: Provider;
  /** The first request on a connection of `client`, while Apple has not answered it. */
  private firstRequest?: { client: Provider; answered: Promise<void>; release: () => void };
  private lastUsed = Date.now();

  constructor(
    private readonly settings: ApnsSettings,
    private readonly sandbox: PushSandboxSettings,
    private readonly requestTimeoutMs: number,
    /** Shared by every APNs sender of the process: one provider token per key. */
    private readonly tokens: ApnsProviderTokens = new ApnsProviderTokens(),
  ) {}

  /**
   * The longest one send() takes: its wait behind a new connection's first request, then node-apn's
   * worst case from the moment it has the request.
   */
  get longestCallMs(): number {
    return this.turnWaitMs + this.requestTimeoutMs * LOST_AFTER_REQUEST_TIMEOUTS;
  }

  /**
   * Half a request timeout, the time of one attempt of the caller's: a request that gets no turn
   * fails unsent within its attempt, and the caller takes it as a plain failure (parked, retried), not
   * as a call still under way.
   */
  private get turnWaitMs(): number {
    return this.requestTimeoutMs / 2;
  }

  async send(notification: ChallengeNotification): Promise<SendOutcome> {
    this.lastUsed = Date.now();
    const note = this.toApnsNotification(notification);
    const client = this.connected();
    const handedOff = await this.sendInTurn(client, note, notification.deviceToken);
    if (!handedOff)
      return fail(
        'provider_error',
        true,
        `Apple has not answered the first request on a new connection within ${this.turnWaitMs} ms; not sent, trying again`,
      );
    return this.sendThrough(client, handedOff.sending);
  }

  /**
   * Apple allows one stream on a new connection until it has checked the provider token. So the first
   * request on each connection goes alone, the others wait for its answer instead of being refused and
   * retried: on a new client's first connection, and on one node-apn opens by itself after a GOAWAY,
   * a reset or a final 500. A request waits at most `turnWaitMs`, then gives up unsent (undefined);
   * once node-apn has it, it has node-apn's whole worst case (`sendThrough`), so a request answered
   * late is never taken for lost while Apple delivers it.
   */
  private async sendInTurn(
    client: Provider,
    note: Notification,
    deviceToken: string,
  ): Promise<{ sending: Promise<Responses<ResponseSent, ResponseFailure>> } | undefined> {
    const waitUntil = Date.now() + this.turnWaitMs;
    for (let first = this.firstRequest; first?.client === client; first = this.firstRequest) {
      if (!(await settlesBy(first.answered, waitUntil))) return undefined;
      // Answered (or given up on) and still marked: never wait on it again.
      if (this.firstRequest === first) this.firstRequest = undefined;
    }
    // From the check to the hand-off nothing awaits: no other request can become first meanwhile.
    // (In an object: an async function's promise would take on the send's own.)
    if (connectionOpen(client)) return { sending: client.send(note, deviceToken) };
    let release!: () => void;
    const answered = new Promise<void>((resolve) => (release = resolve));
    const first = { client, answered, release };
    this.firstRequest = first;
    const sending = client.send(note, deviceToken).finally(() => {
      if (this.firstRequest === first) this.firstRequest = undefined;
      release();
    });
    return { sending };
  }

  /**
   * node-apn sometimes neither answers nor fails a request (node-apn#665; seen here when Apple answers
   * 500s while node-apn replaces its session), and the challenge would wait on it until it expires.
   * Past node-apn's own worst case (counted from its hand-off) no stream of the call is left to
   * deliver: the call is failed as retryable and the client replaced, so the next attempt goes out on a
   * new connection.
   */
  private async sendThrough(
    client: Provider,
    sending: Promise<Responses<ResponseSent, ResponseFailure>>,
  ): Promise<SendOutcome> {
    const lostAfterMs = this.requestTimeoutMs * LOST_AFTER_REQUEST_TIMEOUTS;
    let timer: NodeJS.Timeout | undefined;
    const lost = new Promise<undefined>(
      (resolve) => (timer = setTimeout(() => resolve(undefined), lostAfterMs)),
    );
    let result: Responses<ResponseSent, ResponseFailure> | undefined;
    try {
      result = await Promise.race([sending, lost]);
    } finally {
      clearTimeout(timer);
    }
    if (result) return this.outcome(result);
    // Requests waiting behind a first request node-apn lost go on now rather than at their own worst
    // case: on this client, shut down below, node-apn refuses them at once, and they are retried.
    const first = this.firstRequest;
    if (first?.client === client) {
      this.firstRequest = undefined;
      first.release();
    }
    if (this.client === client) this.client = undefined;
    void this.shutDown(client);
    return fail(
      'provider_error',
      true,
      `node-apn neither answered nor failed the request within ${lostAfterMs} ms; retrying on a new connection`,
    );
  }

  idleFor(now: number): number {
    return now - this.lastUsed;
  }

  async closeIdleSession(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await this.shutDown(client);
  }

  /**
   * Closes the client's session gracefully: requests on it finish first. node-apn's shutdown() reports
   * through its callback, and never does for a session a connection reset already destroyed (Node
   * leaves it destroyed but not closed): the wait ends after a request timeout.
   */
  private shutDown(client: Provider): Promise<void> {
    this.tokens.release(client);
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.requestTimeoutMs);
      client.shutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    await this.closeIdleSession();
  }

  private connected(): Provider {
    if (this.client) return this.client;
    const options: ProviderOptions = {
      // A Buffer: node-apn reads a string without a PEM header as a file's path.
      token: {
        key: Buffer.from(this.settings.key),
        keyId: this.settings.key_id,
        teamId: this.settings.team_id,
      },
      production: this.settings.production,
      requestTimeout: this.requestTimeoutMs,
      connectionRetryLimit: CONNECTION_RETRY_LIMIT,
    };
    // Only a sandbox (never production) points the client at another host speaking Apple's protocol.
    if (this.sandbox.apnsEndpoint) {
      Object.assign(options, {
        address: this.sandbox.apnsEndpoint.host,
        port: this.sandbox.apnsEndpoint.port,
        ca: this.sandbox.caPem,
      });
    }
    this.client = new Provider(options);
    this.tokens.share(this.client, this.settings);
    return this.client;
  }

  private toApnsNotification(challenge: ChallengeNotification): Notification {
    const apple = applePresentation(challenge);
    const note = new Notification();
    note.topic = this.settings.bundle_id;
    note.pushType = apple.pushType;
    note.priority = apple.priority;
    note.expiry = apple.expiry;
    note.collapseId = apple.collapseId;
    note.alert = { title: challenge.title, body: challenge.body };
    note.sound = apple.sound;
    note.mutableContent = apple.mutableContent === 1;
    note.payload = { ...challenge.data };
    // Both are aps keys the typings of the notification class do not list.
    Object.assign(note, { category: apple.category, interruptionLevel: apple.interruptionLevel });
    return note;
  }

  private outcome(result: Responses<ResponseSent, ResponseFailure>): SendOutcome {
    const sent = result.sent[0];
    if (sent)
      return { ok: true, providerMessageId: (sent as ResponseSent & { 'apns-id'?: string })['apns-id'] };
    const failure = result.failed[0];
    if (!failure)
      return { ok: false, reason: 'provider_error', retryable: true, detail: 'APNs returned no result' };
    const status = Number(failure.status ?? 0);
    const reason = failure.response?.reason ?? failure.error?.message ?? 'unknown';
    if (!status) return fail('provider_error', true, `connection: ${reason}`);
    if (INVALID_DEVICE.has(reason))
      return fail('device_token_invalid', false, `${status} ${reason}${invalidSince(failure.response)}`);
    if (TOKEN_MISMATCH.has(reason)) return fail('device_token_mismatch', false, `${status} ${reason}`);
    if (INVALID_CONFIG.has(reason)) return credentialsRefused(`${status} ${reason}`);
    const remedy = REMEDIES.get(reason);
    if (remedy) return credentialsRefused(`${status} ${reason}`, remedy);
    // Apple limits pushes to one device (push bombing shows as this), and node-apn has already tried
    // again: a challenge retrying until it expires would only hold its partition's requests behind it.
    if (reason === 'TooManyRequests') return fail('device_rate_limited', false, `${status} ${reason}`);
    if (reason === CONNECTION_IDLE || status === 408 || status === 429 || status >= 500)
      return fail('provider_error', true, `${status} ${reason}`);
    // A refusal of the provider token or key Apple added after this list was written.
    if (status === 403) return credentialsRefused(`${status} ${reason}`);
    return fail('payload_invalid', false, `${status} ${reason}`);
  }
}

/**
 * Whether node-apn's client has a connection it will send on (its own test before it connects again,
 * in `Client.write`). Where a node-apn release keeps its client elsewhere this says yes: no request
 * is held back, and a burst on a new connection costs retries again. test/apns-sender.e2e-spec.ts
 * checks where it is.
 */
export function connectionOpen(provider: Provider): boolean {
  const client = (provider as unknown as { client?: { write?: unknown; session?: Http2Session } }).client;
  if (typeof client?.write !== 'function') return true;
  const { session } = client;
  return !!session && !session.closed && !session.destroyed;
}

/**
 * Apple's 410 names when it last knew the token invalid (ms since the epoch): a device that registered
 * the token again after that still has it, so the caller should not drop one registered since.
 */
function invalidSince(response: unknown): string {
  const timestamp = Number((response as { timestamp?: unknown } | undefined)?.timestamp);
  const at = new Date(timestamp);
  return Number.isFinite(timestamp) && timestamp > 0 && !isNaN(at.getTime())
    ? `; invalid since ${at.toISOString()}`
    : '';
}

/** Whether `promise` settles by `deadline` (epoch ms); waits no longer. */
async function settlesBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>(
    (resolve) => (timer = setTimeout(() => resolve(false), deadline - Date.now())),
  );
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
