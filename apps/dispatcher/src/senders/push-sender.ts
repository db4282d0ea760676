/** What a challenge looks like to a provider-neutral sender. */
export interface ChallengeNotification {
  challengeId: string;
  deviceToken: string;
  title: string;
  body: string;
  /** The notification category the app maps to its action buttons. */
  category: string;
  /** Custom data for the app; values are strings (FCM requires it; APNs gets the same). */
  data: Record<string, string>;
  expiresAt: Date;
}

/**
 * How Apple is asked to show a challenge, for direct APNs and for iOS devices reached through FCM alike:
 * without these, FCM keeps an undelivered prompt for 30 days, and iOS shows it without its buttons and
 * once per re-send instead of replacing it.
 */
export function applePresentation(challenge: ChallengeNotification) {
  return {
    /** Seconds since the epoch: Apple drops the notification once the challenge expired. */
    expiry: Math.floor(challenge.expiresAt.getTime() / 1000),
    priority: 10,
    pushType: 'alert',
    collapseId: challenge.challengeId,
    category: challenge.category,
    sound: 'default',
    interruptionLevel: 'time-sensitive',
    /**
     * iOS hands the push to the app's Notification Service Extension first (when it has one): the only
     * way for the app to show the offered numbers, or the sign-in's context, before it is opened.
     */
    mutableContent: 1,
  } as const;
}

/**
 * The most a challenge's payload may carry: Apple and Google both refuse more than 4096 bytes, and FCM
 * adds keys of its own to what it hands APNs.
 */
export const MAX_PAYLOAD_BYTES = { apns: 4096, fcm: 4096 - 256 } as const;

/** The payload's size as APNs receives it (FCM's data and notification are the same strings). */
export function payloadBytes(challenge: ChallengeNotification): number {
  const apple = applePresentation(challenge);
  const aps = {
    alert: { title: challenge.title, body: challenge.body },
    sound: apple.sound,
    category: apple.category,
    'interruption-level': apple.interruptionLevel,
    'mutable-content': apple.mutableContent,
  };
  return Buffer.byteLength(JSON.stringify({ ...challenge.data, aps }), 'utf8');
}

export type FailureReason =
  | 'device_token_invalid'
  | 'device_token_mismatch'
  | 'device_rate_limited'
  | 'config_invalid'
  | 'payload_invalid'
  | 'provider_error';

export type SendOutcome =
  | { ok: true; providerMessageId?: string }
  | {
      ok: false;
      reason: FailureReason;
      retryable: boolean;
      detail: string;
      /** The provider refused the configuration's credentials themselves, whatever the device. */
      credentialsRefused?: boolean;
      /** With credentialsRefused: what the admin should do about it. */
      remedy?: string;
      /** The provider's own word on when to try again (Retry-After), in ms since the epoch. */
      retryAt?: number;
    };

/** One provider's client for one tenant configuration. Built lazily, reused for every send, closed on swap. */
export interface PushSender {
  readonly provider: 'apns' | 'fcm';
  send(notification: ChallengeNotification): Promise<SendOutcome>;
  /** The longest one send() can take, the SDK's own tries and timeouts included: past it, it is lost. */
  readonly longestCallMs: number;
  /** Milliseconds since the last send, so idle network sessions can be closed. */
  idleFor(now: number): number;
  /** Closes the network session; the sender reopens it on its next send. */
  closeIdleSession(): Promise<void>;
  close(): Promise<void>;
}

/** A provider's text kept in results and logs: firebase-admin quotes a whole HTML error page, say. */
export const MAX_DETAIL_LENGTH = 512;

function shortened(detail: string): string {
  if (detail.length <= MAX_DETAIL_LENGTH) return detail;
  const cut = MAX_DETAIL_LENGTH - 1;
  // Not between the two halves of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(detail[cut - 1]) ? cut - 1 : cut;
  return `${detail.slice(0, end)}…`;
}

export function fail(reason: FailureReason, retryable: boolean, detail: string): SendOutcome {
  return { ok: false, reason, retryable, detail: shortened(detail) };
}

/** config_invalid that no device could cause: the whole configuration is broken (and reported so). */
export function credentialsRefused(
  detail: string,
  remedy = 'replace them with PATCH /mfa/push',
): SendOutcome {
  return {
    ok: false,
    reason: 'config_invalid',
    retryable: false,
    detail: shortened(detail),
    credentialsRefused: true,
    remedy,
  };
}
