import type { PushRequestedEvent } from '@lib/contracts';
import type { PushStrategy } from '@lib/mfa-config';
import type { ChallengeNotification } from '../senders/push-sender';

/** Category identifiers the authenticator app registers its buttons under. */
export const PROMPT_CATEGORY = 'MFA_PROMPT'; // Approve / Deny
export const NUMBER_MATCH_CATEGORY = 'MFA_NUMBER_MATCH'; // the offered numbers, set by the app's extension

/**
 * What the phone shows and receives. A prompt asks to approve or deny; number matching asks the user
 * to tap the number on their sign-in screen and carries the three choices, never which one is right.
 */
export function challengeNotification(
  request: PushRequestedEvent,
  strategy: PushStrategy,
  values: string[] | undefined,
): ChallengeNotification {
  const app = request.context?.app_name;
  const where = request.context?.location ? ` from ${request.context.location}` : '';
  // expires_at lets the app hide a challenge tapped after it lapsed; locale, localise its own screen
  // (the default title and body below are English: a caller localises them by sending its own).
  const data: Record<string, string> = {
    challenge_id: request.challenge_id,
    strategy,
    expires_at: request.expires_at,
  };
  if (request.message?.locale) data.locale = request.message.locale;
  if (values) data.values = values.join(',');
  if (request.context) data.context = JSON.stringify(request.context);
  if (request.context_token) data.context_token = request.context_token;
  const prompt = strategy === 'prompt';
  return {
    challengeId: request.challenge_id,
    deviceToken: request.device.token,
    title: request.message?.title ?? (prompt ? 'Approve sign-in?' : 'Confirm your sign-in'),
    body:
      request.message?.body ??
      (prompt
        ? `Someone is signing in to ${app ?? 'your account'}${where}. Approve if it is you.`
        : `Tap the number shown on your ${app ? `${app} ` : ''}sign-in screen${where ? ` (sign-in${where})` : ''}.`),
    category: prompt ? PROMPT_CATEGORY : NUMBER_MATCH_CATEGORY,
    data,
    expiresAt: new Date(request.expires_at),
  };
}
