/**
 * A message that could not be processed, as put on mfa.push.requested.dlq (key: the original key): the
 * original value is kept verbatim up to 64 KiB (beyond, its beginning and `…[truncated: N bytes in all]`;
 * read it whole at topic/partition/offset).
 */
export interface PushDeadLetter {
  reason: string;
  original_value: string | null;
  original_key: string | null;
  topic: string;
  partition: number;
  offset: string;
  failed_at: string;
}

/**
 * The JSON Schema of PushDeadLetter, for operators' tools in any language; `satisfies` keeps its
 * properties exactly those of the type the dispatcher builds letters from.
 */
export const pushDeadLetterSchema = {
  $id: 'https://push-mfa.dev/schemas/mfa.push.requested.dlq.json',
  title: 'mfa.push.requested.dlq',
  type: 'object',
  additionalProperties: false,
  required: ['reason', 'original_value', 'original_key', 'topic', 'partition', 'offset', 'failed_at'],
  properties: {
    reason: { type: 'string', minLength: 1 },
    original_value: {
      type: ['string', 'null'],
      description:
        'The value as received (null when it had none), up to 64 KiB; beyond, its beginning followed by "…[truncated: N bytes in all]"',
    },
    original_key: {
      type: ['string', 'null'],
      description: 'The key as received (null when it had none), up to 1 KiB, truncated like original_value',
    },
    topic: { type: 'string', minLength: 1 },
    partition: { type: 'integer', minimum: 0 },
    offset: {
      type: 'string',
      pattern: '^[0-9]+$',
      description: 'A decimal string: Kafka offsets are 64-bit',
    },
    failed_at: { type: 'string', format: 'date-time' },
  },
} as const satisfies { properties: Record<keyof PushDeadLetter, object>; [keyword: string]: unknown };
