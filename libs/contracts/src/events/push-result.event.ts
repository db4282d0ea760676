export type PushStatus = 'sent' | 'failed' | 'expired' | 'rejected';

/** The outcome of one challenge; on mfa.push.results, key = challenge_id. Exactly one per accepted request. */
export interface PushResultEvent {
  challenge_id: string;
  tenant: string;
  status: PushStatus;
  provider: 'apns' | 'fcm' | null;
  config_version: number | null;
  provider_message_id?: string;
  reason?: string;
  /** Of a failed challenge: the provider's answer as it gave it (e.g. `400 BadDeviceToken`), for a report. */
  detail?: string;
  retryable: boolean;
  attempts: number;
  requested_at: string | null;
  completed_at: string;
}

/** The JSON Schema of PushResultEvent, for consumers in any language (the dispatcher builds results from the type). */
export const pushResultSchema = {
  $id: 'https://push-mfa.dev/schemas/mfa.push.results.json',
  title: 'mfa.push.results',
  type: 'object',
  additionalProperties: false,
  required: [
    'challenge_id',
    'tenant',
    'status',
    'provider',
    'config_version',
    'retryable',
    'attempts',
    'requested_at',
    'completed_at',
  ],
  properties: {
    challenge_id: { type: 'string' },
    tenant: { type: 'string' },
    status: { type: 'string', enum: ['sent', 'failed', 'expired', 'rejected'] },
    provider: { type: ['string', 'null'], enum: ['apns', 'fcm', null] },
    config_version: { type: ['integer', 'null'] },
    provider_message_id: { type: 'string' },
    reason: { type: 'string' },
    detail: { type: 'string' },
    retryable: { type: 'boolean' },
    attempts: { type: 'integer', minimum: 0 },
    requested_at: { type: ['string', 'null'], format: 'date-time' },
    completed_at: { type: 'string', format: 'date-time' },
  },
} as const;
