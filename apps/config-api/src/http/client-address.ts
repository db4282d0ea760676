import type { Request } from 'express';

/** The address a request came from: behind a proxy, the proxy's (see docs/security.md). */
export function clientAddress(request: Request): string {
  return request.ip ?? request.socket.remoteAddress ?? 'unknown';
}
