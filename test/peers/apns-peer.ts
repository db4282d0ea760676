import { KeyObject, randomUUID, verify } from 'node:crypto';
import {
  constants as http2Constants,
  createSecureServer,
  Http2SecureServer,
  Http2Session,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
  ServerHttp2Stream,
} from 'node:http2';
import { DeliveryRecorder, FaultPlan } from './peer-recorder';
import {
  decodeJsonSegment,
  listenOnLoopback,
  PeerConnections,
  readBody,
  resetConnectionSoon,
  toKeyObject,
} from './peer-server';
import { createTestCa } from './test-ca';

/** One request the peer received, answered or not. */
export interface ApnsDelivery {
  /** The device token from the path `/3/device/<token>` ('' when the path had none). */
  token: string;
  /** The request's regular headers (pseudo-headers left out), lower-case names. */
  headers: Record<string, string>;
  /** The body parsed as JSON; the raw text when it is not JSON; undefined when empty. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  payload: any;
  /** `kid` and `iss` of the provider token as sent (unverified; '' when absent). */
  keyId: string;
  teamId: string;
  receivedAt: number;
  /** The status answered; 0 when the connection was reset instead (resetConnectionsNext). */
  status: number;
}

export interface ApnsPeerOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS announced once a valid provider token was seen on a connection. */
  maxConcurrentStreams?: number;
  /** How many times a team's provider token may change within 20 minutes (default 1000). */
  maxProviderTokenUpdates?: number;
}

export interface ApnsFaultOptions {
  /** Sent as the `retry-after` header. */
  retryAfterSeconds?: number;
}

interface RegisteredKey {
  teamId: string;
  publicKey: KeyObject;
}

interface Fault {
  status: number;
  reason: string;
  retryAfterSeconds?: number;
}

interface Answer {
  status: number;
  reason?: string;
  timestamp?: number;
  retryAfterSeconds?: number;
}

type TokenCheck = { ok: true; keyId: string; teamId: string } | { ok: false; reason: string };

const PROVIDER_TOKEN_MAX_AGE_SECONDS = 3600;
const TOKEN_UPDATE_WINDOW_MS = 20 * 60 * 1000;
const PUSH_TYPES = new Set([
  'alert',
  'background',
  'controls',
  'location',
  'voip',
  'complication',
  'fileprovider',
  'liveactivity',
  'pushtotalk',
  'mdm',
  'widgets',
]);
/** Topic suffixes Apple appends to the bundle id for some push types. */
const TOPIC_SUFFIXES = [
  '.voip',
  '.voip-ptt',
  '.complication',
  '.pushkit.fileprovider',
  '.push-type.liveactivity',
  '.location-query',
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEVICE_TOKEN = /^(?:[0-9a-f]{2}){32,100}$/i;

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A stand-in for the APNs provider API (HTTP/2 over TLS, token-based authentication) on 127.0.0.1,
 * answering as Apple documents: https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns
 */
export class ApnsPeer {
  readonly host = '127.0.0.1';
  readonly caFile: string;
  readonly caPem: string;

  /** Every request, in arrival order (cleared by clear()). */
  get received(): ApnsDelivery[] {
    return this.deliveries.received;
  }

  set received(deliveries: ApnsDelivery[]) {
    this.deliveries.received = deliveries;
  }

  private readonly keys = new Map<string, RegisteredKey>();
  private readonly topics = new Map<string, Set<string>>();
  private readonly unregistered = new Map<string, number>();
  /** Tokens issued to one app (`issueFor`); any other token is taken as issued to the topic it is sent to. */
  private readonly tokenTopics = new Map<string, string>();
  private readonly otherEnvironmentTokens = new Set<string>();
  private readonly verifiedTokens = new Map<string, { keyId: string; teamId: string; iat: number }>();
  private readonly teamTokens = new Map<string, { current: string; changes: number[] }>();
  private readonly authenticatedSessions = new WeakSet<Http2Session>();
  private readonly connections: PeerConnections;
  private readonly deliveries = new DeliveryRecorder<ApnsDelivery>({ peer: 'ApnsPeer', unit: 'requests' });
  private readonly faults = new FaultPlan<Fault>();
  /** Tokens every push to which fails (`failFor`), until clearFaults(). */
  private readonly failingTokens = new Map<string, Fault>();
  private maxProviderTokenUpdates: number;
  private readonly maxConcurrentStreams: number;

  private constructor(
    server: Http2SecureServer,
    readonly port: number,
    ca: { caFile: string; caPem: string },
    options: ApnsPeerOptions,
  ) {
    this.caFile = ca.caFile;
    this.caPem = ca.caPem;
    this.maxConcurrentStreams = options.maxConcurrentStreams ?? 1000;
    this.maxProviderTokenUpdates = options.maxProviderTokenUpdates ?? 1000;
    this.connections = new PeerConnections(server);
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) =>
      this.onStream(stream, headers),
    );
  }

  /** Listens on 127.0.0.1, a random port. Connections start with one concurrent stream, as at Apple. */
  static async start(options: ApnsPeerOptions = {}): Promise<ApnsPeer> {
    const ca = createTestCa();
    const server = createSecureServer({
      key: ca.keyPem,
      cert: ca.certPem,
      settings: { maxConcurrentStreams: 1 },
    });
    return new ApnsPeer(server, await listenOnLoopback(server), ca, options);
  }

  /** Closes the server, destroys every connection and fails pending waitForDeliveries calls. */
  async stop(): Promise<void> {
    this.deliveries.stop();
    this.faults.stop();
    await this.connections.close();
  }

  /** Trusts a provider-token signing key (the public key of the .p8, or the .p8 itself). */
  /** HTTP/2 sessions the clients hold open right now. */
  get openSessions(): number {
    return this.connections.openSessions;
  }

  registerKey(keyId: string, teamId: string, publicKey: KeyObject | string): void {
    this.keys.set(keyId, { teamId, publicKey: toKeyObject(publicKey) });
    this.verifiedTokens.clear();
  }

  /** Lets the team send to this bundle id (and its push-type suffixed topics). No call for a team: any topic. */
  allowTopic(teamId: string, bundleId: string): void {
    const topics = this.topics.get(teamId) ?? new Set<string>();
    topics.add(bundleId);
    this.topics.set(teamId, topics);
  }

  /** From now on the token belongs to this app: a push to another topic gets 400 DeviceTokenNotForTopic. */
  issueFor(token: string, topic: string): void {
    this.tokenTopics.set(token.toLowerCase(), topic);
  }

  /** The token is of the other APNs environment (sandbox or production): Apple answers 400 BadDeviceToken. */
  issueInOtherEnvironment(token: string): void {
    this.otherEnvironmentTokens.add(token.toLowerCase());
  }

  /** From now on the token gets 410 Unregistered with this timestamp (ms since the epoch). */
  markUnregistered(token: string, timestamp: number = Date.now()): void {
    this.unregistered.set(token.toLowerCase(), timestamp);
  }

  /** The next `count` authenticated requests get this status and `{"reason": reason}`. Calls queue up. */
  failNext(count: number, status: number, reason: string, options: ApnsFaultOptions = {}): void {
    this.faults.failNext(count, { status, reason, retryAfterSeconds: options.retryAfterSeconds });
  }

  /** Delays every answer (and every reset) by `ms`. 0 turns it off. */
  setDelay(ms: number): void {
    this.faults.setDelay(ms);
  }

  /** The connection of each of the next `count` requests is destroyed (GOAWAY INTERNAL_ERROR) instead of answered. */
  resetConnectionsNext(count: number): void {
    this.faults.resetConnectionsNext(count);
  }

  /** Changes the TooManyProviderTokenUpdates threshold (changes per team within 20 minutes). */
  setMaxProviderTokenUpdates(count: number): void {
    this.maxProviderTokenUpdates = count;
  }

  /** Until clearFaults(), every push to this token gets this status and `{"reason": reason}`. */
  failFor(token: string, status: number, reason: string): void {
    this.failingTokens.set(token.toLowerCase(), { status, reason });
  }

  /** Drops pending failNext/resetConnectionsNext, failing tokens and the delay. */
  clearFaults(): void {
    this.faults.clearFaults();
    this.failingTokens.clear();
  }

  /** Forgets the recorded requests. Keys, topics, unregistered tokens and faults stay. */
  clear(): void {
    this.deliveries.clear();
  }

  /** The requests answered 200. */
  delivered(): ApnsDelivery[] {
    return this.deliveries.delivered();
  }

  /** Resolves with delivered() once it holds at least `count` requests; rejects after `timeoutMs`. */
  waitForDeliveries(count: number, timeoutMs = 15000): Promise<ApnsDelivery[]> {
    return this.deliveries.waitForDeliveries(count, timeoutMs);
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const receivedAt = Date.now();
    void readBody(stream).then((body) => this.handle(stream, headers, body, receivedAt));
  }

  private async handle(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    body: Buffer,
    receivedAt: number,
  ): Promise<void> {
    const path = (firstHeader(headers, ':path') ?? '').split('?')[0];
    const token = path.startsWith('/3/device/') ? decodeURIComponent(path.slice('/3/device/'.length)) : '';
    const jwt = /^bearer\s+(\S+)\s*$/i.exec(firstHeader(headers, 'authorization') ?? '')?.[1];
    const [headerSegment, claimsSegment] = (jwt ?? '').split('.');
    const kid = decodeJsonSegment(headerSegment)?.kid;
    const iss = decodeJsonSegment(claimsSegment)?.iss;
    const text = body.toString('utf8');
    let payload: unknown = undefined;
    if (text !== '') {
      try {
        payload = JSON.parse(text);
      } catch {
        payload = text;
      }
    }
    const recordedHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name.startsWith(':') || value === undefined) continue;
      recordedHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const delivery: ApnsDelivery = {
      token,
      headers: recordedHeaders,
      payload,
      keyId: typeof kid === 'string' ? kid : '',
      teamId: typeof iss === 'string' ? iss : '',
      receivedAt,
      status: 0,
    };

    if (this.faults.takeReset()) {
      await this.faults.delay();
      this.deliveries.record(delivery);
      resetConnectionSoon(stream.session, http2Constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }

    const answer = this.evaluate(stream.session, headers, path, token, jwt, text, payload);
    await this.faults.delay();
    delivery.status = answer.status;
    this.deliveries.record(delivery);
    if (stream.destroyed || stream.closed) return;

    const requestApnsId = firstHeader(headers, 'apns-id');
    const responseHeaders: OutgoingHttpHeaders = {
      ':status': answer.status,
      'apns-id':
        requestApnsId !== undefined && UUID.test(requestApnsId) ? requestApnsId : randomUUID().toUpperCase(),
    };
    if (answer.retryAfterSeconds !== undefined)
      responseHeaders['retry-after'] = String(answer.retryAfterSeconds);
    try {
      if (answer.status === 200) {
        stream.respond(responseHeaders, { endStream: true });
      } else {
        responseHeaders['content-type'] = 'application/json';
        stream.respond(responseHeaders);
        const errorBody =
          answer.timestamp !== undefined
            ? { reason: answer.reason, timestamp: answer.timestamp }
            : { reason: answer.reason };
        stream.end(JSON.stringify(errorBody));
      }
    } catch {
      // The client went away meanwhile.
    }
  }

  /** The answer APNs would give, checks in the order Apple applies them. */
  private evaluate(
    session: Http2Session | undefined,
    headers: IncomingHttpHeaders,
    path: string,
    token: string,
    jwt: string | undefined,
    text: string,
    payload: unknown,
  ): Answer {
    if (firstHeader(headers, ':method') !== 'POST') return { status: 405, reason: 'MethodNotAllowed' };
    if (!path.startsWith('/3/device/')) return { status: 404, reason: 'BadPath' };

    if (firstHeader(headers, 'authorization') === undefined) {
      return { status: 403, reason: 'MissingProviderToken' };
    }
    if (jwt === undefined) return { status: 403, reason: 'InvalidProviderToken' };
    const check = this.checkProviderToken(jwt);
    if (!check.ok) return { status: 403, reason: check.reason };
    if (session && !this.authenticatedSessions.has(session)) {
      this.authenticatedSessions.add(session);
      try {
        session.settings({ maxConcurrentStreams: this.maxConcurrentStreams });
      } catch {
        // Session already closing.
      }
    }
    if (this.tokenChangedTooOften(check.teamId, jwt)) {
      return { status: 429, reason: 'TooManyProviderTokenUpdates' };
    }

    const fault = this.faults.takeFault() ?? this.failingTokens.get(token.toLowerCase());
    if (fault) return fault;

    const topic = firstHeader(headers, 'apns-topic');
    if (!topic) return { status: 400, reason: 'MissingTopic' };
    if (!this.isTopicAllowed(check.teamId, topic)) return { status: 400, reason: 'TopicDisallowed' };
    const pushType = firstHeader(headers, 'apns-push-type');
    if (pushType !== undefined && !PUSH_TYPES.has(pushType))
      return { status: 400, reason: 'InvalidPushType' };
    const apnsId = firstHeader(headers, 'apns-id');
    if (apnsId !== undefined && !UUID.test(apnsId)) return { status: 400, reason: 'BadMessageId' };
    const priority = firstHeader(headers, 'apns-priority');
    if (priority !== undefined && !['1', '5', '10'].includes(priority)) {
      return { status: 400, reason: 'BadPriority' };
    }
    const expiration = firstHeader(headers, 'apns-expiration');
    if (expiration !== undefined && !/^\d+$/.test(expiration)) {
      return { status: 400, reason: 'BadExpirationDate' };
    }
    const collapseId = firstHeader(headers, 'apns-collapse-id');
    if (collapseId !== undefined && Buffer.byteLength(collapseId, 'utf8') > 64) {
      return { status: 400, reason: 'BadCollapseId' };
    }
    if (token === '') return { status: 400, reason: 'MissingDeviceToken' };
    if (!DEVICE_TOKEN.test(token) || this.otherEnvironmentTokens.has(token.toLowerCase()))
      return { status: 400, reason: 'BadDeviceToken' };
    const issuedTo = this.tokenTopics.get(token.toLowerCase());
    if (issuedTo !== undefined && issuedTo !== topic)
      return { status: 400, reason: 'DeviceTokenNotForTopic' };

    if (text === '') return { status: 400, reason: 'PayloadEmpty' };
    const maxBytes = pushType === 'voip' ? 5120 : 4096;
    if (Buffer.byteLength(text, 'utf8') > maxBytes) return { status: 413, reason: 'PayloadTooLarge' };
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      // Apple documents no reason for a body that is not a JSON object.
      return { status: 400, reason: 'PayloadEmpty' };
    }

    const unregisteredAt = this.unregistered.get(token.toLowerCase());
    if (unregisteredAt !== undefined)
      return { status: 410, reason: 'Unregistered', timestamp: unregisteredAt };
    return { status: 200 };
  }

  private checkProviderToken(jwt: string): TokenCheck {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const known = this.verifiedTokens.get(jwt);
    if (known) {
      if (nowSeconds - known.iat > PROVIDER_TOKEN_MAX_AGE_SECONDS) {
        return { ok: false, reason: 'ExpiredProviderToken' };
      }
      return { ok: true, keyId: known.keyId, teamId: known.teamId };
    }
    const invalid: TokenCheck = { ok: false, reason: 'InvalidProviderToken' };
    const segments = jwt.split('.');
    if (segments.length !== 3) return invalid;
    const [headerSegment, claimsSegment, signatureSegment] = segments;
    const header = decodeJsonSegment(headerSegment);
    const claims = decodeJsonSegment(claimsSegment);
    if (!header || !claims || header.alg !== 'ES256' || typeof header.kid !== 'string') return invalid;
    const key = this.keys.get(header.kid);
    if (!key || claims.iss !== key.teamId) return invalid;
    const iat = claims.iat;
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return invalid;
    if (nowSeconds - iat > PROVIDER_TOKEN_MAX_AGE_SECONDS)
      return { ok: false, reason: 'ExpiredProviderToken' };
    let valid = false;
    try {
      valid = verify(
        'sha256',
        Buffer.from(`${headerSegment}.${claimsSegment}`),
        { key: key.publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(signatureSegment, 'base64url'),
      );
    } catch {
      valid = false;
    }
    if (!valid) return invalid;
    this.verifiedTokens.set(jwt, { keyId: header.kid, teamId: key.teamId, iat });
    return { ok: true, keyId: header.kid, teamId: key.teamId };
  }

  private tokenChangedTooOften(teamId: string, jwt: string): boolean {
    const now = Date.now();
    const state = this.teamTokens.get(teamId);
    if (!state) {
      this.teamTokens.set(teamId, { current: jwt, changes: [] });
      return false;
    }
    if (state.current !== jwt) {
      state.current = jwt;
      state.changes.push(now);
    }
    state.changes = state.changes.filter((at) => now - at < TOKEN_UPDATE_WINDOW_MS);
    return state.changes.length > this.maxProviderTokenUpdates;
  }

  private isTopicAllowed(teamId: string, topic: string): boolean {
    const allowed = this.topics.get(teamId);
    if (!allowed || allowed.size === 0) return true;
    for (const bundleId of allowed) {
      if (topic === bundleId) return true;
      if (TOPIC_SUFFIXES.some((suffix) => topic === bundleId + suffix)) return true;
    }
    return false;
  }
}
