import { configAppliedSchema } from './events/config-applied.event';
import { configChangedSchema } from './events/config-changed.event';
import { pushDeadLetterSchema } from './events/push-dead-letter.event';
import { pushRequestedSchema } from './events/push-requested.event';
import { pushResultSchema } from './events/push-result.event';

/** The JSON Schema of every topic's messages, written to docs/schemas/ (npm run schemas) for other languages. */
export const PUBLISHED_SCHEMAS = [
  configChangedSchema,
  configAppliedSchema,
  pushRequestedSchema,
  pushResultSchema,
  pushDeadLetterSchema,
] as const;
