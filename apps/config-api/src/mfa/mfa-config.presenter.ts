import type { MfaConfigRecord } from '@lib/mfa-config';
import type { MfaConfigResponse } from './dto/mfa-config.response';

/** What responses show in place of a secret: a fixed mask, never derived from the secret. */
export const SECRET_MASK = '[redacted]';

/** The response body: the seed's fields with defaults filled in, secrets masked and fingerprinted. */
export function presentMfaConfig(record: MfaConfigRecord): MfaConfigResponse {
  const settings = record.settings!;
  return {
    enabled: record.enabled,
    provider: record.provider,
    type: record.type,
    ...(record.is_custom !== undefined && { is_custom: record.is_custom }),
    settings: {
      enabled_clients: settings.enabled_clients,
      strategy: settings.strategy,
      ...(settings.apns && {
        apns: {
          bundle_id: settings.apns.bundle_id,
          key: SECRET_MASK,
          key_fingerprint: settings.apns.key_fingerprint,
          key_id: settings.apns.key_id,
          production: settings.apns.production,
          team_id: settings.apns.team_id,
        },
      }),
      ...(settings.fcm && {
        fcm: {
          client_email: settings.fcm.client_email,
          private_key: SECRET_MASK,
          private_key_fingerprint: settings.fcm.private_key_fingerprint,
          project_id: settings.fcm.project_id,
        },
      }),
    },
    version: record.version,
    created_at: record.created_at.toISOString(),
    updated_at: record.updated_at.toISOString(),
    ...(record.status && {
      status: {
        version: record.status.version,
        state: record.status.state,
        error: record.status.error ?? null,
        at: record.status.at.toISOString(),
      },
    }),
  };
}
