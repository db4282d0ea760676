import type { ClientRequest, IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';

/** FCM's answer (429 or 5xx) to the latest send of one challenge. */
interface Refusal {
  /** performance.now() when it came: a step of the wall clock must not make it look older or newer. */
  answeredAt: number;
  /** When its Retry-After lets the next attempt go (ms since the epoch); none when it named none. */
  retryAt?: number;
}

const SEND_PATH = /^\/v1\/projects\/[^/]+\/messages:send$/;
/** Far more challenges than fail at once: only refusals never taken (a runaway) would reach it. */
const MAX_REFUSALS = 10_000;
/** Past any challenge's expiry (at most 15 minutes ahead), and still a time that can be named. */
const LONGEST_WAIT_MS = 24 * 60 * 60_000;

/**
 * The Retry-After of FCM's answers, for the send they answered. firebase-admin turns an answer into an
 * error code and drops its headers, yet Google asks senders to honour Retry-After on 429 and 5xx. The
 * FCM agent shows this each request as it is created (`watch`); firebase-admin writes a send's whole
 * body with `end()`, and the challenge id in its data says whose answer it is: one call per challenge
 * is under way in a process. Not per project (one throttled device would hold back the retries of
 * every other device), nor per device (two challenges to one device would take each other's). (An
 * AsyncLocalStorage could tie answers to calls instead, but on Node 20 it slows every promise of the
 * process: 2.4 times, measured.)
 */
export class FcmRetryAfter {
  private readonly refusals = new Map<string, Refusal>();

  watch(request: ClientRequest): void {
    if (!SEND_PATH.test(request.path)) return;
    // Kept as written and read only for a refusal: most sends succeed, and this is their path.
    let body: unknown;
    const end = request.end.bind(request) as (...args: unknown[]) => ClientRequest;
    request.end = ((...args: unknown[]) => {
      body = args[0];
      return end(...args);
    }) as ClientRequest['end'];
    request.once('response', (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      if (status !== 429 && status < 500) return;
      const challengeId = challengeIdOf(body);
      if (challengeId === undefined) return;
      if (this.refusals.size >= MAX_REFUSALS) this.refusals.clear();
      this.refusals.set(challengeId, {
        answeredAt: performance.now(),
        retryAt: retryAtOf(response.headers['retry-after']),
      });
    });
  }

  /**
   * The Retry-After time of FCM's last answer to a send of `challengeId`, if that answer came since
   * `since` (performance.now()) and named one; forgets the answer.
   */
  take(challengeId: string, since: number): number | undefined {
    const refusal = this.refusals.get(challengeId);
    this.refusals.delete(challengeId);
    return refusal && refusal.answeredAt >= since ? refusal.retryAt : undefined;
  }
}

/** The challenge id every push carries in its data (see challenge-content.ts). */
function challengeIdOf(body: unknown): string | undefined {
  if (typeof body !== 'string' && !Buffer.isBuffer(body)) return undefined;
  try {
    const sent = JSON.parse(body.toString()) as { message?: { data?: { challenge_id?: unknown } } };
    const challengeId = sent.message?.data?.challenge_id;
    return typeof challengeId === 'string' ? challengeId : undefined;
  } catch {
    return undefined;
  }
}

/** Retry-After is either seconds to wait or an HTTP date (RFC 9110, 10.2.3); anything else is ignored. */
export function retryAtOf(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const at = /^\d+$/.test(text)
    ? now + Number(text) * 1000
    : /[a-z]/i.test(text)
      ? Math.max(now, Date.parse(text))
      : NaN;
  return Number.isNaN(at) ? undefined : Math.min(at, now + LONGEST_WAIT_MS);
}
