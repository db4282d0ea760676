import type { JSONSchemaType } from 'ajv';
import { TENANT_ID_PATTERN } from '../identifiers';

/** Published by a dispatcher replica after it applied (or failed to apply) a configuration version. */
export interface ConfigAppliedEvent {
  tenant: string;
  mfa_type: string;
  version: number;
  status: 'applied' | 'failed';
  error?: string;
  replica: string;
  at: string;
}

export const configAppliedSchema: JSONSchemaType<ConfigAppliedEvent> = {
  $id: 'https://push-mfa.dev/schemas/mfa.config.applied.json',
  title: 'mfa.config.applied',
  type: 'object',
  additionalProperties: false,
  required: ['tenant', 'mfa_type', 'version', 'status', 'replica', 'at'],
  properties: {
    // As the API accepts it: a report naming any other tenant can only be forged, and is dropped.
    tenant: { type: 'string', pattern: TENANT_ID_PATTERN },
    mfa_type: { type: 'string', minLength: 1, maxLength: 32 },
    version: { type: 'integer', minimum: 0 },
    status: { type: 'string', enum: ['applied', 'failed'] },
    error: { type: 'string', maxLength: 2000, nullable: true },
    replica: { type: 'string', minLength: 1, maxLength: 128 },
    at: { type: 'string', format: 'date-time' },
  },
};
