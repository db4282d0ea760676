import { configAppliedSchema } from './events/config-applied.event';
import { configChangedSchema } from './events/config-changed.event';
import { pushDeadLetterSchema } from './events/push-dead-letter.event';
import { pushRequestedSchema } from './events/push-requested.event';
import { pushResultSchema } from './events/push-result.event';

/** The draft the published schemas declare: the one Ajv (and most validators) read by default. */
const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

/**
 * The JSON Schema of every topic's messages, written to docs/schemas/ (npm run schemas) for other
 * languages: standard draft-07, where the code's schemas use Ajv's `nullable` (OpenAPI's), which
 * other validators ignore, so they refused the nulls the dispatcher accepts.
 */
export const PUBLISHED_SCHEMAS = [
  configChangedSchema,
  configAppliedSchema,
  pushRequestedSchema,
  pushResultSchema,
  pushDeadLetterSchema,
].map(
  (schema) => ({ $schema: DRAFT_07, ...(standard(schema) as Record<string, unknown>) }) as PublishedSchema,
);

export interface PublishedSchema {
  $schema: string;
  title: string;
  [keyword: string]: unknown;
}

/** `nullable: true` written as draft-07 says it: null among the types (and the values, for an enum). */
function standard(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(standard);
  if (!schema || typeof schema !== 'object') return schema;
  const { nullable, ...rest } = schema as Record<string, unknown>;
  const converted = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, standard(value)]));
  if (nullable !== true) return converted;
  if (typeof converted.type === 'string') converted.type = [converted.type, 'null'];
  if (Array.isArray(converted.enum) && !converted.enum.includes(null))
    converted.enum = [...converted.enum, null];
  return converted;
}
