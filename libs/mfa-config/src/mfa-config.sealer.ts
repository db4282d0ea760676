import { Injectable } from '@nestjs/common';
import { EncryptedSecret, publicKeyFingerprint, SecretBox } from '@lib/crypto';
import { normalizePem, parseApnsKey, parseFcmPrivateKey } from './configuration-rules';
import type { MfaConfigRecord, StoredPushSettings } from './mfa-config.schema';
import type { StoredConfigState } from './mfa-config.repository';
import type { MfaConfiguration, MfaType } from './mfa-configuration';

/**
 * Turns a plaintext configuration into what is stored (secrets encrypted, fingerprints beside them)
 * and back. Each secret is bound to its tenant, type and field as associated data.
 */
@Injectable()
export class MfaConfigSealer {
  constructor(private readonly box: SecretBox) {}

  /** Expects a configuration that passed checkConfigurationRules. */
  seal(tenant: string, config: MfaConfiguration): StoredConfigState {
    const { apns, fcm, ...settings } = config.settings;
    const bind = (field: string) => associatedData(tenant, config.type, field);
    return {
      enabled: config.enabled,
      provider: config.provider,
      is_custom: config.is_custom,
      settings: {
        ...settings,
        ...(apns && {
          apns: {
            bundle_id: apns.bundle_id,
            key_id: apns.key_id,
            team_id: apns.team_id,
            production: apns.production,
            key: this.box.seal(normalizePem(apns.key), bind('settings.apns.key')),
            key_fingerprint: publicKeyFingerprint(parseApnsKey(apns.key)),
          },
        }),
        ...(fcm && {
          fcm: {
            client_email: fcm.client_email,
            project_id: fcm.project_id,
            private_key: this.box.seal(normalizePem(fcm.private_key), bind('settings.fcm.private_key')),
            private_key_fingerprint: publicKeyFingerprint(parseFcmPrivateKey(fcm.private_key)),
          },
        }),
      },
    };
  }

  /**
   * The record's settings with every secret sealed with the current key, or null when they already are:
   * a key rotation's catch-up. Plaintexts and fingerprints stay. Throws when a secret does not open.
   */
  resealed(record: MfaConfigRecord): StoredPushSettings | null {
    const { settings } = record;
    if (!settings) return null;
    const bind = (field: string) => associatedData(record.tenant, record.type, field);
    const apnsKey = settings.apns && this.box.resealed(settings.apns.key, bind('settings.apns.key'));
    const fcmKey =
      settings.fcm && this.box.resealed(settings.fcm.private_key, bind('settings.fcm.private_key'));
    if (!apnsKey && !fcmKey) return null;
    return {
      ...settings,
      ...(apnsKey && { apns: { ...settings.apns!, key: apnsKey } }),
      ...(fcmKey && { fcm: { ...settings.fcm!, private_key: fcmKey } }),
    };
  }

  /** Decrypts a live record's secrets. */
  open(record: MfaConfigRecord): MfaConfiguration {
    const bind = (field: SecretField) => associatedData(record.tenant, record.type, field);
    return this.decrypted(record, (sealed, field) => this.box.open(sealed, bind(field)));
  }

  /**
   * Decrypts what it can, for an update that may replace the rest: a secret no key opens any more (its
   * key removed too early) comes back empty, and is named in `unreadable`.
   */
  openReplaceable(record: MfaConfigRecord): { config: MfaConfiguration; unreadable: SecretField[] } {
    const unreadable: SecretField[] = [];
    const bind = (field: SecretField) => associatedData(record.tenant, record.type, field);
    const config = this.decrypted(record, (sealed, field) => {
      try {
        return this.box.open(sealed, bind(field));
      } catch {
        unreadable.push(field);
        return '';
      }
    });
    return { config, unreadable };
  }

  private decrypted(
    record: MfaConfigRecord,
    openSecret: (sealed: EncryptedSecret, field: SecretField) => string,
  ): MfaConfiguration {
    if (!record.settings) throw new Error(`configuration ${record.tenant}/${record.type} is deleted`);
    const { apns, fcm, ...settings } = record.settings;
    return {
      enabled: record.enabled,
      provider: record.provider,
      type: record.type,
      ...(record.is_custom !== undefined && { is_custom: record.is_custom }),
      settings: {
        ...settings,
        ...(apns && {
          apns: {
            bundle_id: apns.bundle_id,
            key_id: apns.key_id,
            team_id: apns.team_id,
            production: apns.production,
            key: openSecret(apns.key, 'settings.apns.key'),
          },
        }),
        ...(fcm && {
          fcm: {
            client_email: fcm.client_email,
            project_id: fcm.project_id,
            private_key: openSecret(fcm.private_key, 'settings.fcm.private_key'),
          },
        }),
      },
    };
  }
}

/** The fields stored encrypted, by their path in the API's body. */
export type SecretField = 'settings.apns.key' | 'settings.fcm.private_key';

/** The secret at `field` of a plaintext configuration, if its section is there. */
export function secretAt(config: MfaConfiguration, field: SecretField): string | undefined {
  return field === 'settings.apns.key' ? config.settings.apns?.key : config.settings.fcm?.private_key;
}

function associatedData(tenant: string, type: MfaType, field: string): string {
  return `${tenant}/${type}/${field}`;
}
