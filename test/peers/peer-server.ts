import { createPublicKey, KeyObject } from 'node:crypto';
import { Http2SecureServer, Http2Session } from 'node:http2';
import { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';

/** Listens on 127.0.0.1, a random port; resolves with the port. */
export async function listenOnLoopback(server: Http2SecureServer): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Keeps track of a peer server's connections: server.close() alone would wait for clients that keep
 * theirs open. Connection errors are swallowed, since clients dropping out is what the tests provoke.
 */
export class PeerConnections {
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private closed = false;

  constructor(private readonly server: Http2SecureServer) {
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.on('error', () => undefined);
      session.on('close', () => this.sessions.delete(session));
    });
    server.on('sessionError', () => undefined);
    server.on('tlsClientError', () => undefined);
  }

  /** HTTP/2 sessions clients hold open right now (a client that closes idle sessions brings this to 0). */
  get openSessions(): number {
    return this.sessions.size;
  }

  /** Destroys every connection and closes the server; later calls do nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
    this.sessions.clear();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Drops a client's connection as a network reset would, on the next turn of the event loop. Destroying
 * an HTTP/2 session from a stream handler runs inside nghttp2's receive loop, and Node then frees memory
 * nghttp2 still reads: the process dies with "corrupted size vs. prev_size" (nodejs/node#64850).
 */
export function resetConnectionSoon(connection: Http2Session | Socket | undefined, code?: number): void {
  if (connection === undefined) return;
  setImmediate(() => {
    if (connection instanceof Socket) connection.destroy();
    // With no error, Node sends GOAWAY NO_ERROR whatever the code: a graceful close, not a failure.
    else connection.destroy(new Error('connection reset by the test peer'), code);
  });
}

/** The whole request body. Never settles when the client hangs up mid-request: there is nothing to answer. */
export function readBody(request: Readable): Promise<Buffer> {
  return new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    request.on('error', () => undefined);
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** One JWT segment (header or claims) decoded; undefined unless it is a JSON object. */
export function decodeJsonSegment(segment: string | undefined): Record<string, unknown> | undefined {
  if (!segment) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A public key from a KeyObject or PEM; a private key gives its public half. */
export function toKeyObject(key: KeyObject | string): KeyObject {
  if (typeof key !== 'string') return key.type === 'private' ? createPublicKey(key) : key;
  return createPublicKey(key);
}
