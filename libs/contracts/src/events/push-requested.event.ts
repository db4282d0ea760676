import type { JSONSchemaType } from 'ajv';
import { CHALLENGE_ID_PATTERN, TENANT_ID_PATTERN } from '../identifiers';

/**
 * A challenge an internal service asks the dispatcher to send; on mfa.push.requested, key = challenge_id.
 * `context_token` is opaque: signed by the requester, passed through for the app to verify.
 */
export interface PushRequestedEvent {
  challenge_id: string;
  tenant?: string;
  client_id: string;
  strategy?: 'code' | 'prompt';
  /** Number matching: the number the sign-in page shows. */
  code?: string;
  /** Number matching: the numbers the push offers, one of them `code`. */
  values?: string[];
  device: { provider: 'apns' | 'fcm'; token: string };
  message?: { title?: string; body?: string; locale?: string };
  context?: { app_name?: string; ip?: string; location?: string; user_agent?: string };
  context_token?: string;
  expires_at: string;
}

/** An APNs device token: hex, 32 to 100 bytes (64 to 200 hex digits, no spaces or brackets). */
export const APNS_DEVICE_TOKEN_PATTERN = '^([0-9A-Fa-f]{2}){32,100}$';

const shortText = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength }) as const;

export const pushRequestedSchema: JSONSchemaType<PushRequestedEvent> = {
  $id: 'https://push-mfa.dev/schemas/mfa.push.requested.json',
  title: 'mfa.push.requested',
  type: 'object',
  additionalProperties: false,
  required: ['challenge_id', 'client_id', 'device', 'expires_at'],
  properties: {
    challenge_id: { type: 'string', pattern: CHALLENGE_ID_PATTERN },
    tenant: { type: 'string', pattern: TENANT_ID_PATTERN, nullable: true },
    client_id: shortText(255),
    // Ajv's nullable lets null past an enum only when the enum lists it.
    strategy: { type: 'string', enum: ['code', 'prompt', null], nullable: true },
    code: { type: 'string', pattern: '^[0-9]{1,3}$', nullable: true },
    values: {
      type: 'array',
      items: { type: 'string', pattern: '^[0-9]{1,3}$' },
      minItems: 3,
      maxItems: 3,
      uniqueItems: true,
      nullable: true,
    },
    device: {
      type: 'object',
      additionalProperties: false,
      required: ['provider', 'token'],
      properties: {
        provider: { type: 'string', enum: ['apns', 'fcm'] },
        token: { type: 'string', minLength: 1, maxLength: 4096 },
      },
      // APNs takes the token in the request path as hex (32 bytes today; Apple says it may grow). Other
      // text would be refused or reset the stream, and a reset is retried until the challenge expires.
      if: { properties: { provider: { const: 'apns' } } },
      then: { properties: { token: { type: 'string', pattern: APNS_DEVICE_TOKEN_PATTERN } } },
    },
    message: {
      type: 'object',
      additionalProperties: false,
      nullable: true,
      required: [],
      properties: {
        title: { ...shortText(200), nullable: true },
        body: { ...shortText(1000), nullable: true },
        locale: { type: 'string', pattern: '^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$', nullable: true },
      },
    },
    context: {
      type: 'object',
      additionalProperties: false,
      nullable: true,
      required: [],
      properties: {
        app_name: { ...shortText(100), nullable: true },
        ip: { ...shortText(64), nullable: true },
        location: { ...shortText(200), nullable: true },
        user_agent: { ...shortText(500), nullable: true },
      },
    },
    context_token: { ...shortText(2048), nullable: true },
    expires_at: { type: 'string', format: 'date-time' },
  },
};

/**
 * What number matching cannot work with in a request for it: no code, or values offered beside the
 * code that do not hold it or differ from it in length (a decoy of another length is one the user can
 * rule out without looking). The dispatcher answers these `invalid_request`; the push client refuses
 * them before sending.
 */
export function numberMatchingProblem(
  request: Pick<PushRequestedEvent, 'code' | 'values'>,
): string | undefined {
  const { code, values } = request;
  if (!code) return 'code is required for number matching';
  if (values && !values.includes(code)) return 'values must contain code';
  if (values?.some((value) => value.length !== code.length))
    return 'values must all have as many digits as code';
  return undefined;
}
