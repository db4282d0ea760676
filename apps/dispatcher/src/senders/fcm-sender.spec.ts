import { fcmOutcome } from './fcm-sender';
import { TOKEN_EXCHANGE_UNAVAILABLE } from './service-account.credential';

describe('fcmOutcome: what a firebase-admin error means for the challenge', () => {
  it.each<[string, string, string, { reason: string; retryable: boolean; credentialsRefused?: true }]>([
    // Google's UNREGISTERED and a token FCM never issued: the caller may drop the device.
    [
      'messaging/registration-token-not-registered',
      'Requested entity was not found.',
      'dead token',
      { reason: 'device_token_invalid', retryable: false },
    ],
    [
      'messaging/invalid-registration-token',
      'Invalid registration token provided.',
      'malformed token',
      { reason: 'device_token_invalid', retryable: false },
    ],
    [
      'messaging/invalid-argument',
      'The registration token is not a valid FCM registration token',
      'INVALID_ARGUMENT about the token',
      { reason: 'device_token_invalid', retryable: false },
    ],
    // The same code for a message FCM refuses: the device is fine, and must not be dropped.
    [
      'messaging/invalid-argument',
      "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration)",
      'INVALID_ARGUMENT about the message',
      { reason: 'payload_invalid', retryable: false },
    ],
    [
      'messaging/mismatched-credential',
      'SenderId mismatch',
      "another project's token",
      { reason: 'device_token_mismatch', retryable: false },
    ],
    [
      'messaging/mismatched-credential',
      "Permission 'cloudmessaging.messages.create' denied on resource",
      'a service account without the role',
      { reason: 'config_invalid', retryable: false, credentialsRefused: true },
    ],
    [
      'messaging/third-party-auth-error',
      'Auth error from APNS or Web Push Service',
      "the project's APNs key refused",
      { reason: 'config_invalid', retryable: false, credentialsRefused: true },
    ],
    [
      'messaging/third-party-auth-error',
      'Request had invalid authentication credentials.',
      'an access token refused',
      { reason: 'config_invalid', retryable: false, credentialsRefused: true },
    ],
    [
      'app/invalid-credential',
      'invalid_grant: Invalid JWT Signature.',
      'a key Google refuses',
      { reason: 'config_invalid', retryable: false, credentialsRefused: true },
    ],
    [
      'app/invalid-credential',
      `${TOKEN_EXCHANGE_UNAVAILABLE} within 10 s`,
      'the token endpoint away',
      { reason: 'provider_error', retryable: true },
    ],
    [
      'messaging/server-unavailable',
      'The server is unavailable.',
      'a 503',
      { reason: 'provider_error', retryable: true },
    ],
    [
      'messaging/internal-error',
      'Internal error encountered.',
      'a 500',
      { reason: 'provider_error', retryable: true },
    ],
    [
      'messaging/message-rate-exceeded',
      'Quota exceeded.',
      'a 429',
      { reason: 'provider_error', retryable: true },
    ],
    [
      'app/network-timeout',
      'Error while making request: timeout of 15000ms exceeded.',
      'a timeout',
      { reason: 'provider_error', retryable: true },
    ],
    [
      'messaging/payload-size-limit-exceeded',
      'Message too big',
      'anything else',
      { reason: 'payload_invalid', retryable: false },
    ],
  ])('%s "%s" (%s)', (code, message, _case, expected) => {
    const outcome = fcmOutcome({ code, message });
    expect(outcome).toMatchObject({ ok: false, ...expected });
    if (!expected.credentialsRefused) expect(outcome).not.toHaveProperty('credentialsRefused');
  });
});
