import type { ClientRequest } from 'node:http';
import { Agent, AgentOptions } from 'node:https';
import { connect, ConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';

/** Sockets per host of the FCM agent: FCM sends in flight at once (SendSlots). */
export const FCM_SOCKETS = 64;
/** A pooled keep-alive agent: a TLS handshake per send caps throughput at a few hundred per second. */
const POOL: AgentOptions = { keepAlive: true, maxSockets: FCM_SOCKETS, maxFreeSockets: FCM_SOCKETS };

/** Sees each request the agent carries as it is created, before its body is written. */
export type RequestWatcher = (request: ClientRequest) => void;

type AddRequest = (this: Agent, request: ClientRequest, options: unknown) => void;

/** The pooled agent every FCM sender shares, showing its requests to `watch`. */
export class ProviderAgent extends Agent {
  constructor(
    private readonly watch: RequestWatcher = () => undefined,
    options: AgentOptions = {},
  ) {
    super({ ...POOL, ...options });
  }

  /**
   * Node's Agent takes each request here from the request's constructor (the method is missing from
   * Node's typings; proxy agents override it too).
   */
  addRequest(request: ClientRequest, options: unknown): void {
    this.watch(request);
    (Agent.prototype as unknown as { addRequest: AddRequest }).addRequest.call(this, request, options);
  }
}

/**
 * For a sandbox only: connects every request to one host:port that speaks Google's protocols,
 * keeping the requested host name for SNI and Host, and trusting the sandbox's CA.
 */
export class SandboxRedirectAgent extends ProviderAgent {
  constructor(
    private readonly target: { host: string; port: number },
    private readonly caPem: string | undefined,
    watch?: RequestWatcher,
  ) {
    super(watch, { ca: caPem });
  }

  override createConnection(
    options: ConnectionOptions,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): Duplex {
    const socket = connect({
      ...options,
      host: this.target.host,
      port: this.target.port,
      servername: options.servername ?? options.host,
      ca: this.caPem,
    });
    if (callback) socket.once('secureConnect', () => callback(null, socket));
    return socket;
  }
}
