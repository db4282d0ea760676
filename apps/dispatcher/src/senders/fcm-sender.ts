import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Agent } from 'node:https';
import { App, deleteApp, initializeApp } from 'firebase-admin/app';
import { getMessaging, Message, Messaging } from 'firebase-admin/messaging';
import type { FcmSettings } from '@lib/mfa-config';
import {
  applePresentation,
  ChallengeNotification,
  credentialsRefused,
  fail,
  PushSender,
  SendOutcome,
} from './push-sender';
import type { FcmRetryAfter } from './retry-after';
import type { SendSlots } from './send-slots';
import {
  ServiceAccountCredential,
  TOKEN_EXCHANGE_LONGEST_MS,
  TOKEN_EXCHANGE_UNAVAILABLE,
} from './service-account.credential';

// firebase-admin's error codes, grouped by what the caller should do about them.
const INVALID_DEVICE = new Set([
  'messaging/registration-token-not-registered',
  'messaging/invalid-registration-token',
]);
const CREDENTIALS_REFUSED = new Set([
  'app/invalid-credential',
  'messaging/authentication-error',
  // Also what firebase-admin makes of a plain UNAUTHENTICATED (an access token FCM refuses).
  'messaging/third-party-auth-error',
]);
// FCM's THIRD_PARTY_AUTH_ERROR: Google's credentials are fine, Apple refused the Firebase project's APNs key.
const APNS_KEY_OF_PROJECT_REFUSED = /auth error from APNS/i;
// FCM's SENDER_ID_MISMATCH (a token of another Firebase project) and PERMISSION_DENIED (the service
// account may not send for its project, or the API is off there, whatever the device) both arrive as
// this code; only SENDER_ID_MISMATCH's text ("SenderId mismatch") tells them apart.
const MISMATCHED_CREDENTIAL = 'messaging/mismatched-credential';
/**
 * A plain UNAUTHENTICATED (firebase-admin gives it the code of THIRD_PARTY_AUTH_ERROR): FCM refused the
 * access token itself. Known by Google's text, so another refusal under that code stays refused.
 */
function accessTokenRefused(error: { code?: string; message?: string }): boolean {
  return (
    error.code === 'messaging/third-party-auth-error' &&
    /invalid authentication credentials/i.test(error.message ?? '')
  );
}
const RETRYABLE = new Set([
  'messaging/server-unavailable',
  'messaging/internal-error',
  'messaging/message-rate-exceeded',
  'messaging/device-message-rate-exceeded',
  'messaging/quota-exceeded',
  'messaging/unknown-error',
  'app/network-error',
  'app/network-timeout',
]);
/** firebase-admin's timeout of a messages:send request (FIREBASE_MESSAGING_TIMEOUT). */
const SEND_REQUEST_TIMEOUT_MS = 15_000;
/** FCM's QUOTA_EXCEEDED (429), a project's or one device's: Google asks for at least a minute before retrying. */
const QUOTA_EXCEEDED = 'messaging/message-rate-exceeded';
const QUOTA_EXCEEDED_MIN_WAIT_MS = 60_000;

/** Where firebase-admin 13 keeps the retry settings of the HTTP client that send() uses. */
interface MessagingInternals {
  messagingRequestHandler?: { httpClient?: { retry?: unknown } };
}

/**
 * firebase-admin resends a send itself (a 503, waiting out a Retry-After of up to a minute; a reset; its
 * own 15 s timeout) with the body it built first: after the challenge expired, with an Android `ttl`
 * counted from the first try, and, after a timeout, as a second push. The dispatcher's retry loop knows
 * the expiry and rebuilds the message, so the SDK's own retries are turned off. firebase-admin has no
 * option for that: the setting lives on the HTTP client of its messaging service. If a release moves
 * it, the send e2e tests fail ("sends once", below a Retry-After past the expiry).
 */
export function withoutSdkRetries(messaging: Messaging): Messaging {
  const client = (messaging as unknown as MessagingInternals).messagingRequestHandler?.httpClient;
  if (!client || !('retry' in client))
    throw new Error(
      "firebase-admin's messaging no longer keeps its retry settings where this version expects (messagingRequestHandler.httpClient.retry): update withoutSdkRetries in fcm-sender.ts for the installed firebase-admin",
    );
  client.retry = null;
  return messaging;
}

/** Fails start-up, rather than every FCM push, when withoutSdkRetries cannot work with the installed firebase-admin. */
export function checkSdkRetriesCanBeTurnedOff(): void {
  const probe = initializeApp(
    {
      projectId: 'retry-probe',
      credential: { getAccessToken: () => Promise.reject(new Error('a probe sends nothing')) },
    },
    `fcm-retry-probe-${randomUUID()}`,
  );
  try {
    withoutSdkRetries(getMessaging(probe));
  } finally {
    void deleteApp(probe);
  }
}

/**
 * FCM HTTP v1 through firebase-admin's send(): HTTP/1.1 over our pooled keep-alive agent, which it
 * honours (sendEach() would open an HTTP/2 session per call and ignore the agent). Each sender owns an
 * app under a unique name, so a new credential never collides with the old one, which is deleted on close.
 */
export class FcmSender implements PushSender {
  readonly provider = 'fcm' as const;
  /**
   * A token exchange (when the cached token has run out), the wait for one of the agent's sockets, then
   * the send itself: firebase-admin's own retries are off.
   */
  readonly longestCallMs: number;
  private app?: App;
  private messaging?: Messaging;
  /**
   * Kept across idle sweeps, with the access token it holds (good for up to an hour): otherwise the
   * first push after each idle spell waits for a token exchange with Google.
   */
  private credential?: ServiceAccountCredential;
  /** The credential's generation begun by dropping a token FCM refused, until FCM accepts one of it. */
  private droppedGeneration?: number;
  private lastUsed = Date.now();

  constructor(
    private readonly settings: FcmSettings,
    private readonly agent: Agent,
    private readonly retryAfter: FcmRetryAfter,
    /** Shared by every FCM sender of the agent: a send waits `waitMs` at most for a socket, then fails unsent. */
    private readonly turns: { slots: SendSlots; waitMs: number },
  ) {
    this.longestCallMs = TOKEN_EXCHANGE_LONGEST_MS + turns.waitMs + SEND_REQUEST_TIMEOUT_MS;
  }

  async send(notification: ChallengeNotification): Promise<SendOutcome> {
    this.lastUsed = Date.now();
    const startedAt = performance.now();
    let outcome: SendOutcome;
    let quotaExceeded = false;
    let credential: ServiceAccountCredential | undefined;
    // Which token this send uses: the credential's generation changes when a refused one is dropped.
    let generation = 0;
    try {
      const messaging = this.connected();
      credential = this.credential!;
      generation = credential.generation;
      // The token first: Android's ttl counts from when FCM receives the message, not from a token
      // exchange before it, nor from a wait for a socket. firebase-admin then gets the same token
      // from the credential's cache.
      await this.accessToken(credential);
      const release = await this.turns.slots.acquire(this.turns.waitMs);
      if (!release)
        return fail(
          'provider_error',
          true,
          `all ${this.turns.slots.size} connections to FCM stayed busy for ${this.turns.waitMs} ms; not sent, trying again`,
        );
      try {
        const name = await messaging.send(this.toFcmMessage(notification));
        outcome = { ok: true, providerMessageId: name };
      } finally {
        release();
      }
      this.tokenAccepted(generation);
    } catch (error) {
      const failure = error as { code?: string; message?: string };
      quotaExceeded = failure.code === QUOTA_EXCEEDED;
      outcome = fcmOutcome(failure);
      if (credential && accessTokenRefused(failure))
        outcome = this.afterAccessTokenRefused(credential, generation, outcome);
      // Any other answer of FCM's (its codes are messaging/*) took the token.
      else if (failure.code?.startsWith('messaging/')) this.tokenAccepted(generation);
    }
    // Taken whatever the outcome, so no answer is left behind for a later send of the challenge.
    const asked = this.retryAfter.take(notification.challengeId, startedAt);
    if (outcome.ok || !outcome.retryable) return outcome;
    // The last answer's own Retry-After, which a QUOTA_EXCEEDED without one gets Google's minimum for.
    const retryAt = asked ?? (quotaExceeded ? Date.now() + QUOTA_EXCEEDED_MIN_WAIT_MS : undefined);
    return retryAt === undefined ? outcome : { ...outcome, retryAt };
  }

  /**
   * FCM refused the access token (a plain 401). A token can be revoked before it expires, so the first
   * refusal drops it and the attempt is tried again with a new one. A refusal of a token already
   * replaced is tried again too; one of the token that replaced a refused one, before FCM took any
   * of its sends, is the credentials' (`refused`, as before).
   */
  private afterAccessTokenRefused(
    credential: ServiceAccountCredential,
    generation: number,
    refused: SendOutcome,
  ): SendOutcome {
    if (generation === credential.generation) {
      if (generation === this.droppedGeneration) return refused;
      credential.forgetToken();
      this.droppedGeneration = credential.generation;
    }
    const detail = refused.ok ? '' : refused.detail;
    return fail('provider_error', true, `${detail}; trying again with a new access token`);
  }

  private tokenAccepted(generation: number): void {
    if (generation === this.droppedGeneration) this.droppedGeneration = undefined;
  }

  idleFor(now: number): number {
    return now - this.lastUsed;
  }

  async closeIdleSession(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    this.messaging = undefined;
    if (app) await deleteApp(app);
  }

  async close(): Promise<void> {
    await this.closeIdleSession();
  }

  /** Fails as firebase-admin's send() would have failed for the same exchange (app/invalid-credential). */
  private async accessToken(credential: ServiceAccountCredential): Promise<void> {
    try {
      await credential.getAccessToken();
    } catch (error) {
      let message = (error as Error).message;
      // firebase-admin's own hint for it, which its error would have carried.
      if (message.includes('invalid_grant'))
        message +=
          ': the dispatcher host clock is off, or the key was deleted or revoked in the Google Cloud console';
      throw Object.assign(new Error(message), { code: 'app/invalid-credential' });
    }
  }

  private connected(): Messaging {
    if (this.messaging) return this.messaging;
    this.credential ??= new ServiceAccountCredential(
      this.settings.client_email,
      this.settings.private_key,
      this.agent,
    );
    this.app = initializeApp(
      {
        credential: this.credential,
        projectId: this.settings.project_id,
        httpAgent: this.agent,
      },
      `fcm-${this.settings.project_id}-${randomUUID()}`,
    );
    this.messaging = withoutSdkRetries(getMessaging(this.app));
    return this.messaging;
  }

  private toFcmMessage(challenge: ChallengeNotification): Message {
    const ttlMs = Math.max(0, challenge.expiresAt.getTime() - Date.now());
    const apple = applePresentation(challenge);
    return {
      token: challenge.deviceToken,
      notification: { title: challenge.title, body: challenge.body },
      data: challenge.data,
      android: {
        priority: 'high',
        ttl: ttlMs,
        collapseKey: challenge.challengeId,
        notification: { clickAction: challenge.category, tag: challenge.challengeId },
      },
      // A token of an iOS app that uses the Firebase SDK: FCM hands these to APNs as they are.
      apns: {
        headers: {
          'apns-expiration': String(apple.expiry),
          'apns-priority': String(apple.priority),
          'apns-push-type': apple.pushType,
          'apns-collapse-id': apple.collapseId,
        },
        payload: {
          aps: {
            category: apple.category,
            sound: apple.sound,
            'interruption-level': apple.interruptionLevel,
            'mutable-content': apple.mutableContent,
          },
        },
      },
    };
  }
}

/** What a firebase-admin error (its code and text) means for the challenge. */
export function fcmOutcome(error: { code?: string; message?: string }): SendOutcome {
  const code = error.code ?? 'unknown';
  const detail = `${code}: ${error.message ?? ''}`.trim();
  if (INVALID_DEVICE.has(code)) return fail('device_token_invalid', false, detail);
  // FCM answers INVALID_ARGUMENT both for a bad token and for a bad message; only the text tells which.
  if (code === 'messaging/invalid-argument' && /registration token/i.test(error.message ?? ''))
    return fail('device_token_invalid', false, detail);
  if (code === 'messaging/third-party-auth-error' && APNS_KEY_OF_PROJECT_REFUSED.test(error.message ?? ''))
    return credentialsRefused(
      detail,
      "upload a valid APNs key in the Firebase console (Project settings, Cloud Messaging) of this configuration's project; its Android devices are not affected",
    );
  if (code === 'app/invalid-credential' && error.message?.includes(TOKEN_EXCHANGE_UNAVAILABLE))
    return fail('provider_error', true, detail);
  if (CREDENTIALS_REFUSED.has(code)) return credentialsRefused(detail);
  if (code === MISMATCHED_CREDENTIAL)
    return /senderid mismatch/i.test(error.message ?? '')
      ? fail('device_token_mismatch', false, detail)
      : credentialsRefused(
          detail,
          'the service account may not send for project_id: give it the Firebase Cloud Messaging API Admin role in that project and enable the FCM API there, or replace it with PATCH /mfa/push',
        );
  if (RETRYABLE.has(code)) return fail('provider_error', true, detail);
  return fail('payload_invalid', false, detail);
}
