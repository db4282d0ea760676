import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';

/** A Retry-After as it came: when, and the time it lets the next attempt go (ms since the epoch). */
interface Asked {
  answeredAt: number;
  retryAt: number;
}

/** More paths than any deployment has Firebase projects: only a runaway would reach it. */
const MAX_PATHS = 10_000;

/**
 * The Retry-After of HTTP/1.1 answers, by request path. firebase-admin turns an answer into an error
 * code and drops its headers, yet Google asks senders to honour Retry-After on 429 and 5xx: Node's
 * documented HTTP client channel shows every answer with its request. Answers are told apart by path
 * (FCM's is one per Firebase project), not by call: tying a request to its call would take an
 * AsyncLocalStorage, which on Node 20 slows every promise of the process (measured: 2.4 times).
 */
class RetryAfterByPath {
  private readonly latest = new Map<string, Asked>();

  constructor() {
    subscribe('http.client.response.finish', (message) => {
      const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
      const answeredAt = Date.now();
      const retryAt = retryAtOf(response.headers['retry-after'], answeredAt);
      if (retryAt === undefined) return;
      if (this.latest.size >= MAX_PATHS) this.latest.clear();
      this.latest.set(request.path, { answeredAt, retryAt });
    });
  }

  /** The time the latest Retry-After answered to `path` since `since` names; none if none did. */
  askedSince(path: string, since: number): number | undefined {
    const asked = this.latest.get(path);
    return asked && asked.answeredAt >= since ? asked.retryAt : undefined;
  }
}

export const retryAfterByPath = new RetryAfterByPath();

/** Retry-After is either seconds to wait or an HTTP date (RFC 9110, 10.2.3); anything else is ignored. */
export function retryAtOf(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return now + Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isFinite(date) && /[a-z]/i.test(text) ? Math.max(now, date) : undefined;
}
