import { Agent, AgentOptions } from 'node:https';
import { connect, ConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';

/** A pooled keep-alive agent: a TLS handshake per send caps throughput at a few hundred per second. */
const POOL: AgentOptions = { keepAlive: true, maxSockets: 64, maxFreeSockets: 64 };

export function providerAgent(): Agent {
  return new Agent(POOL);
}

/**
 * For a sandbox only: connects every request to one host:port that speaks Google's protocols,
 * keeping the requested host name for SNI and Host, and trusting the sandbox's CA.
 */
export class SandboxRedirectAgent extends Agent {
  constructor(
    private readonly target: { host: string; port: number },
    private readonly caPem: string | undefined,
  ) {
    super({ ...POOL, ca: caPem });
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
