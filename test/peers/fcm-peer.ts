import { KeyObject, randomBytes, verify } from 'node:crypto';
import { createSecureServer, Http2SecureServer, Http2ServerRequest, Http2ServerResponse } from 'node:http2';
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

/** One messages:send request the peer received. */
export interface FcmDelivery {
  project: string;
  /** `message` of the request body (undefined when the body had none or was not JSON). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  message: any;
  /** The authorization header as sent ('' when absent). */
  authorization: string;
  receivedAt: number;
  /** The status answered; 0 when the connection was reset instead (resetConnectionsNext). */
  status: number;
  /** True when the body asked for `validate_only` (a dry run: answered, not delivered). */
  validateOnly: boolean;
}

export interface FcmFaultOptions {
  /** Sent as the `retry-after` header. */
  retryAfterSeconds?: number;
  /** The FcmError errorCode in `details`; by default derived from the status (RESOURCE_EXHAUSTED → QUOTA_EXCEEDED, ...). */
  errorCode?: string;
  message?: string;
}

interface ServiceAccount {
  publicKey: KeyObject;
  projectId: string;
}

interface IssuedToken {
  clientEmail: string;
  projectId: string;
  expiresAt: number;
}

interface Fault {
  status: number;
  googleStatus: string;
  errorCode: string;
  message: string;
  retryAfterSeconds?: number;
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const TOKEN_AUDIENCE = 'https://oauth2.googleapis.com/token';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const FCM_SCOPES = [
  'https://www.googleapis.com/auth/firebase.messaging',
  'https://www.googleapis.com/auth/cloud-platform',
];
const ACCESS_TOKEN_LIFETIME_SECONDS = 3599;
const CLOCK_SKEW_SECONDS = 300;
const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;
const MESSAGE_FIELDS = new Set([
  'name',
  'data',
  'notification',
  'android',
  'webpush',
  'apns',
  'fcm_options',
  'token',
  'topic',
  'condition',
]);
const DEFAULT_ERROR_CODES: Record<string, string> = {
  RESOURCE_EXHAUSTED: 'QUOTA_EXCEEDED',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  NOT_FOUND: 'UNREGISTERED',
  PERMISSION_DENIED: 'SENDER_ID_MISMATCH',
  UNAUTHENTICATED: 'THIRD_PARTY_AUTH_ERROR',
};
const DEFAULT_FAULT_MESSAGES: Record<string, string> = {
  RESOURCE_EXHAUSTED:
    'Quota exceeded for quota metric and limit of service firebasecloudmessaging.googleapis.com.',
  UNAVAILABLE: 'The service is currently unavailable.',
  INTERNAL: 'Internal error encountered.',
  PERMISSION_DENIED: 'SenderId mismatch',
  UNAUTHENTICATED: 'Auth error from APNS or Web Push Service',
};
const UNAUTHENTICATED_MESSAGE =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other ' +
  'valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
const MISSING_CREDENTIAL_MESSAGE =
  'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or ' +
  'other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function googleError(code: number, status: string, message: string, errorCode?: string): unknown {
  const error: Record<string, unknown> = { code, message, status };
  if (errorCode !== undefined) error.details = [{ '@type': FCM_ERROR_TYPE, errorCode }];
  return { error };
}

function invalidArgument(message: string): Reply {
  return { status: 400, body: googleError(400, 'INVALID_ARGUMENT', message, 'INVALID_ARGUMENT') };
}

function grantError(error: string, description: string): Reply {
  return { status: 400, body: { error, error_description: description } };
}

function jsonLiteral(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value));
}

/**
 * A stand-in for Google's OAuth2 token endpoint (`POST /token`) and the FCM HTTP v1 API
 * (`POST /v1/projects/:project/messages:send`) over HTTPS on 127.0.0.1, serving HTTP/1.1 and HTTP/2.
 * Reach it with an agent that connects to 127.0.0.1:port whatever the host (SNI/Host as the real names).
 */
export class FcmPeer {
  readonly host = '127.0.0.1';
  readonly url: string;
  readonly caFile: string;
  readonly caPem: string;
  /** Requests to the token endpoint, successful or not (reset by clear()). */
  tokenRequests = 0;

  /** Every messages:send request, in arrival order (cleared by clear()). */
  get received(): FcmDelivery[] {
    return this.deliveries.received;
  }

  set received(deliveries: FcmDelivery[]) {
    this.deliveries.received = deliveries;
  }

  private readonly accounts = new Map<string, ServiceAccount>();
  private readonly accessTokens = new Map<string, IssuedToken>();
  private readonly unregistered = new Set<string>();
  private readonly connections: PeerConnections;
  private readonly deliveries = new DeliveryRecorder<FcmDelivery>({
    peer: 'FcmPeer',
    unit: 'sends',
    // A dry run is answered but reaches no device.
    isDelivered: (delivery) => delivery.status === 200 && !delivery.validateOnly,
    // A token exchange that never succeeded explains sends that never came.
    detail: () => `; token requests: ${this.tokenRequests}`,
  });
  private readonly faults = new FaultPlan<Fault>();
  /** What the next token exchanges get instead of an answer: a reset connection, or this 5xx. */
  private tokenFaults: ('reset' | number)[] = [];
  private tokenDelayMs = 0;

  private constructor(
    server: Http2SecureServer,
    readonly port: number,
    ca: { caFile: string; caPem: string },
  ) {
    this.url = `https://127.0.0.1:${port}`;
    this.caFile = ca.caFile;
    this.caPem = ca.caPem;
    this.connections = new PeerConnections(server);
    server.on('request', (request: Http2ServerRequest, response: Http2ServerResponse) =>
      this.onRequest(request, response),
    );
  }

  /** Listens on 127.0.0.1, a random port. */
  static async start(): Promise<FcmPeer> {
    const ca = createTestCa();
    const server = createSecureServer({ key: ca.keyPem, cert: ca.certPem, allowHTTP1: true });
    return new FcmPeer(server, await listenOnLoopback(server), ca);
  }

  /** Closes the server, destroys every connection and fails pending waitForDeliveries calls. */
  async stop(): Promise<void> {
    this.deliveries.stop();
    this.faults.stop();
    await this.connections.close();
  }

  /** Trusts a service account: assertions it signs (RS256) get access tokens for `projectId`. */
  registerServiceAccount(clientEmail: string, publicKey: KeyObject | string, projectId: string): void {
    this.accounts.set(clientEmail, { publicKey: toKeyObject(publicKey), projectId });
  }

  /** From now on sends to this token get 404 NOT_FOUND / UNREGISTERED. */
  markUnregistered(token: string): void {
    this.unregistered.add(token);
  }

  /**
   * The next `count` authenticated sends get `status` with Google's error body (`googleStatus` e.g.
   * 'UNAVAILABLE', 'RESOURCE_EXHAUSTED', 'INTERNAL'). Calls queue up.
   */
  failNext(count: number, status: number, googleStatus: string, options: FcmFaultOptions = {}): void {
    this.faults.failNext(count, {
      status,
      googleStatus,
      errorCode: options.errorCode ?? DEFAULT_ERROR_CODES[googleStatus] ?? googleStatus,
      message: options.message ?? DEFAULT_FAULT_MESSAGES[googleStatus] ?? `Injected ${googleStatus}.`,
      retryAfterSeconds: options.retryAfterSeconds,
    });
  }

  /** Delays every messages:send answer by `ms` (token requests are not delayed). 0 turns it off. */
  setDelay(ms: number): void {
    this.faults.setDelay(ms);
  }

  /** The connection of each of the next `count` sends is destroyed instead of answered. */
  resetConnectionsNext(count: number): void {
    this.faults.resetConnectionsNext(count);
  }

  /**
   * The next `count` token exchanges fail as Google's endpoint can when it is unreachable or in trouble:
   * the connection is reset, or it answers `how` (a 5xx) with an OAuth2 error body. Calls queue up.
   */
  failTokenExchangesNext(count: number, how: 'reset' | number): void {
    for (let i = 0; i < count; i++) this.tokenFaults.push(how);
  }

  /** Delays every token exchange's answer by `ms`, as a slow OAuth2 endpoint would. 0 turns it off. */
  delayTokenExchanges(ms: number): void {
    this.tokenDelayMs = ms;
  }

  /** Drops pending failNext/resetConnectionsNext/failTokenExchangesNext and the delays. */
  clearFaults(): void {
    this.faults.clearFaults();
    this.tokenFaults = [];
    this.tokenDelayMs = 0;
  }

  /** Forgets recorded sends and the token request count. Accounts, issued tokens and faults stay. */
  clear(): void {
    this.deliveries.clear();
    this.tokenRequests = 0;
  }

  /** The sends answered 200, dry runs (validate_only) left out. */
  delivered(): FcmDelivery[] {
    return this.deliveries.delivered();
  }

  /** Resolves with delivered() once it holds at least `count` sends; rejects after `timeoutMs`. */
  waitForDeliveries(count: number, timeoutMs = 15000): Promise<FcmDelivery[]> {
    return this.deliveries.waitForDeliveries(count, timeoutMs);
  }

  private onRequest(request: Http2ServerRequest, response: Http2ServerResponse): void {
    const receivedAt = Date.now();
    response.on('error', () => undefined);
    void readBody(request).then((body) => this.handle(request, response, body.toString('utf8'), receivedAt));
  }

  private async handle(
    request: Http2ServerRequest,
    response: Http2ServerResponse,
    text: string,
    receivedAt: number,
  ): Promise<void> {
    const path = (request.url ?? '').split('?')[0];
    if (path === '/token') {
      this.tokenRequests += 1;
      const fault = this.tokenFaults.shift();
      if (this.tokenDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.tokenDelayMs));
      if (fault === 'reset')
        resetConnectionSoon(request.httpVersionMajor === 2 ? request.stream.session : request.socket);
      else if (fault !== undefined)
        this.reply(response, {
          status: fault,
          body: { error: 'internal_failure', error_description: 'Injected.' },
        });
      else this.reply(response, request.method === 'POST' ? this.exchangeToken(text) : this.notFound());
      return;
    }
    const sendPath = SEND_PATH.exec(path);
    if (!sendPath || request.method !== 'POST') {
      this.reply(response, this.notFound());
      return;
    }

    const project = decodeURIComponent(sendPath[1]);
    const authorization =
      typeof request.headers.authorization === 'string' ? request.headers.authorization : '';
    let body: unknown = undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const delivery: FcmDelivery = {
      project,
      message: isObject(body) ? body.message : undefined,
      authorization,
      receivedAt,
      status: 0,
      validateOnly: isObject(body) && body.validate_only === true,
    };

    if (this.faults.takeReset()) {
      await this.faults.delay();
      this.deliveries.record(delivery);
      resetConnectionSoon(request.httpVersionMajor === 2 ? request.stream.session : request.socket);
      return;
    }

    const reply = this.send(project, authorization, text, body);
    await this.faults.delay();
    delivery.status = reply.status;
    this.deliveries.record(delivery);
    this.reply(response, reply);
  }

  private exchangeToken(text: string): Reply {
    const form = new URLSearchParams(text);
    const grantType = form.get('grant_type');
    if (grantType !== JWT_BEARER_GRANT) {
      return grantError('unsupported_grant_type', `Invalid grant_type: ${grantType ?? ''}`);
    }
    const assertion = form.get('assertion');
    if (!assertion) return grantError('invalid_request', 'Missing required parameter: assertion');
    const segments = assertion.split('.');
    const header = decodeJsonSegment(segments[0]);
    const claims = decodeJsonSegment(segments[1]);
    if (segments.length !== 3 || !header || !claims) return grantError('invalid_grant', 'Invalid JWT.');
    if (header.alg !== 'RS256') return grantError('invalid_grant', 'Invalid JWT Signature.');
    const clientEmail = claims.iss;
    const account = typeof clientEmail === 'string' ? this.accounts.get(clientEmail) : undefined;
    if (typeof clientEmail !== 'string' || !account) {
      return grantError('invalid_grant', 'Invalid grant: account not found');
    }
    let validSignature = false;
    try {
      validSignature = verify(
        'sha256',
        Buffer.from(`${segments[0]}.${segments[1]}`),
        account.publicKey,
        Buffer.from(segments[2], 'base64url'),
      );
    } catch {
      validSignature = false;
    }
    if (!validSignature) return grantError('invalid_grant', 'Invalid JWT Signature.');
    if (claims.aud !== TOKEN_AUDIENCE) {
      return grantError(
        'invalid_grant',
        `Invalid JWT: Failed audience check. The right audience is ${TOKEN_AUDIENCE}`,
      );
    }
    const { iat, exp } = claims;
    const now = Math.floor(Date.now() / 1000);
    if (
      typeof iat !== 'number' ||
      typeof exp !== 'number' ||
      exp <= iat ||
      exp - iat > 3600 ||
      iat > now + CLOCK_SKEW_SECONDS ||
      exp < now - CLOCK_SKEW_SECONDS
    ) {
      return grantError(
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. ' +
          'Check your iat and exp values in the JWT claim.',
      );
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(/\s+/) : [];
    if (!scopes.some((scope) => FCM_SCOPES.includes(scope))) {
      return grantError('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    }
    const accessToken = `ya29.peer-${randomBytes(24).toString('base64url')}`;
    this.accessTokens.set(accessToken, {
      clientEmail,
      projectId: account.projectId,
      expiresAt: Date.now() + ACCESS_TOKEN_LIFETIME_SECONDS * 1000,
    });
    return {
      status: 200,
      body: { access_token: accessToken, expires_in: ACCESS_TOKEN_LIFETIME_SECONDS, token_type: 'Bearer' },
    };
  }

  private send(project: string, authorization: string, text: string, body: unknown): Reply {
    const bearer = /^bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
    const unauthenticated = (message: string): Reply => ({
      status: 401,
      body: googleError(401, 'UNAUTHENTICATED', message),
      headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' },
    });
    if (bearer === undefined) return unauthenticated(MISSING_CREDENTIAL_MESSAGE);
    const issued = this.accessTokens.get(bearer);
    if (!issued || issued.expiresAt <= Date.now()) return unauthenticated(UNAUTHENTICATED_MESSAGE);
    if (issued.projectId !== project) {
      return {
        status: 403,
        body: googleError(
          403,
          'PERMISSION_DENIED',
          `Permission 'cloudmessaging.messages.create' denied on resource ` +
            `'//cloudresourcemanager.googleapis.com/projects/${project}' (or it may not exist).`,
        ),
      };
    }

    const fault = this.faults.takeFault();
    if (fault) {
      return {
        status: fault.status,
        body: googleError(fault.status, fault.googleStatus, fault.message, fault.errorCode),
        headers:
          fault.retryAfterSeconds !== undefined
            ? { 'retry-after': String(fault.retryAfterSeconds) }
            : undefined,
      };
    }

    if (body === undefined)
      return invalidArgument(`Invalid JSON payload received. Unexpected token.\n${text.slice(0, 40)}`);
    if (!isObject(body)) return invalidArgument('Invalid JSON payload received. Expected an object.');
    for (const field of Object.keys(body)) {
      if (field !== 'message' && field !== 'validate_only') {
        return invalidArgument(`Invalid JSON payload received. Unknown name "${field}": Cannot find field.`);
      }
    }
    const message = body.message;
    if (!isObject(message)) return invalidArgument('Request contains an invalid argument.');
    for (const field of Object.keys(message)) {
      if (!MESSAGE_FIELDS.has(field)) {
        return invalidArgument(
          `Invalid JSON payload received. Unknown name "${field}" at 'message': Cannot find field.`,
        );
      }
    }
    const targets = ['token', 'topic', 'condition'].filter((field) => message[field] !== undefined);
    if (targets.length === 0) return invalidArgument('Recipient of the message is not set.');
    if (targets.length > 1) {
      return invalidArgument(
        `Invalid value at 'message' (oneof), oneof field 'target' is already set. Cannot set '${targets[1]}'`,
      );
    }
    const dataProblem = this.checkStringMap(message.data, 'message.data');
    if (dataProblem) return dataProblem;
    const android = message.android;
    if (android !== undefined) {
      if (!isObject(android)) return invalidArgument(`Invalid value at 'message.android'`);
      if (
        android.ttl !== undefined &&
        (typeof android.ttl !== 'string' || !/^\d+(\.\d+)?s$/.test(android.ttl))
      ) {
        return invalidArgument(
          `Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), ${jsonLiteral(android.ttl)}`,
        );
      }
      const priority = android.priority;
      if (
        priority !== undefined &&
        !(typeof priority === 'string' && /^(normal|high)$/i.test(priority)) &&
        !(typeof priority === 'number' && [0, 1, 2].includes(priority))
      ) {
        return invalidArgument(
          `Invalid value at 'message.android.priority' ` +
            `(type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), ${jsonLiteral(priority)}`,
        );
      }
      const androidDataProblem = this.checkStringMap(android.data, 'message.android.data');
      if (androidDataProblem) return androidDataProblem;
    }
    const apnsProblem = this.checkApnsConfig(message.apns);
    if (apnsProblem) return apnsProblem;

    if (message.token !== undefined) {
      const token = message.token;
      if (typeof token !== 'string' || token === '' || token.startsWith('bad')) {
        return invalidArgument('The registration token is not a valid FCM registration token');
      }
      if (this.unregistered.has(token)) {
        return {
          status: 404,
          body: googleError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED'),
        };
      }
    }
    if (message.topic !== undefined) {
      if (typeof message.topic !== 'string' || !/^[a-zA-Z0-9-_.~%]{1,900}$/.test(message.topic)) {
        return invalidArgument(
          `Invalid value at 'message.topic' (TYPE_STRING), ${jsonLiteral(message.topic)}`,
        );
      }
    }
    if (
      message.condition !== undefined &&
      (typeof message.condition !== 'string' || message.condition === '')
    ) {
      return invalidArgument('Invalid condition expression provided.');
    }

    const messageId = body.validate_only === true ? 'fake_message_id' : this.messageId();
    return { status: 200, body: { name: `projects/${project}/messages/${messageId}` } };
  }

  /** `message.apns` (ApnsConfig): headers are a map of strings, the payload an object FCM hands to APNs. */
  private checkApnsConfig(apns: unknown): Reply | undefined {
    if (apns === undefined) return undefined;
    if (!isObject(apns)) return invalidArgument(`Invalid value at 'message.apns'`);
    for (const field of Object.keys(apns)) {
      if (!['headers', 'payload', 'fcm_options', 'live_activity_token'].includes(field))
        return invalidArgument(
          `Invalid JSON payload received. Unknown name "${field}" at 'message.apns': Cannot find field.`,
        );
    }
    const headersProblem = this.checkStringMap(apns.headers, 'message.apns.headers');
    if (headersProblem) return headersProblem;
    if (apns.payload !== undefined && !isObject(apns.payload))
      return invalidArgument(
        `Invalid value at 'message.apns.payload' (type.googleapis.com/google.protobuf.Struct)`,
      );
    return undefined;
  }

  private checkStringMap(value: unknown, field: string): Reply | undefined {
    if (value === undefined) return undefined;
    if (!isObject(value)) return invalidArgument(`Invalid value at '${field}' (map), ${jsonLiteral(value)}`);
    const entries = Object.entries(value);
    for (let index = 0; index < entries.length; index += 1) {
      const entryValue = entries[index][1];
      if (typeof entryValue !== 'string') {
        return invalidArgument(
          `Invalid value at '${field}[${index}].value' (TYPE_STRING), ${jsonLiteral(entryValue)}`,
        );
      }
    }
    return undefined;
  }

  private messageId(): string {
    return `0:${Date.now()}${randomBytes(3).readUIntBE(0, 3) % 1000}%${randomBytes(8).toString('hex')}`;
  }

  private notFound(): Reply {
    return { status: 404, body: googleError(404, 'NOT_FOUND', 'Requested entity was not found.') };
  }

  private reply(response: Http2ServerResponse, reply: Reply): void {
    if (response.writableEnded || response.socket?.destroyed !== false) return;
    try {
      response.writeHead(reply.status, {
        'content-type': 'application/json; charset=UTF-8',
        ...(reply.headers ?? {}),
      });
      response.end(JSON.stringify(reply.body));
    } catch {
      // The client went away meanwhile.
    }
  }
}
