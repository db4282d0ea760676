import type { JSONSchemaType } from 'ajv';
import { TENANT_ID_PATTERN } from '../identifiers';

/** Published on mfa.config.changed (key `tenant/mfa_type`) after every create, update and delete. Carries no secrets. */
export interface ConfigChangedEvent {
  event_id: string;
  type: 'mfa.config.changed';
  tenant: string;
  mfa_type: string;
  version: number;
  change: 'created' | 'updated' | 'deleted';
  occurred_at: string;
}

export const configChangedSchema: JSONSchemaType<ConfigChangedEvent> = {
  $id: 'https://push-mfa.dev/schemas/mfa.config.changed.json',
  title: 'mfa.config.changed',
  type: 'object',
  additionalProperties: false,
  required: ['event_id', 'type', 'tenant', 'mfa_type', 'version', 'change', 'occurred_at'],
  properties: {
    event_id: { type: 'string', minLength: 1, maxLength: 64 },
    type: { type: 'string', const: 'mfa.config.changed' },
    // As the API accepts it: an event naming any other tenant can only be forged, and is ignored.
    tenant: { type: 'string', pattern: TENANT_ID_PATTERN },
    mfa_type: { type: 'string', minLength: 1, maxLength: 32 },
    version: { type: 'integer', minimum: 1 },
    change: { type: 'string', enum: ['created', 'updated', 'deleted'] },
    occurred_at: { type: 'string', format: 'date-time' },
  },
};

export function configChangedKey(tenant: string, mfaType: string): string {
  return `${tenant}/${mfaType}`;
}
