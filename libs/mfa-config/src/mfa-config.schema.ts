import { Schema } from 'mongoose';
import type { EncryptedSecret } from '@lib/crypto';
import type { MfaProvider, MfaType, PushStrategy } from './mfa-configuration';

export const MFA_CONFIG_MODEL = 'MfaConfig';

export type ConfigChange = 'created' | 'updated' | 'deleted';

/** A configuration-changed event waiting in the document for the outbox relay (see OutboxRelay). */
export interface PendingConfigEvent {
  event_id: string;
  version: number;
  change: ConfigChange;
  occurred_at: Date;
}

/** What the dispatcher last reported about applying a version (mfa.config.applied). */
export interface AppliedStatus {
  version: number;
  state: 'applied' | 'failed';
  error?: string;
  at: Date;
  /** The dispatcher replica that sent the report (absent in reports stored before it was kept). */
  replica?: string;
}

export interface StoredApnsSettings {
  bundle_id: string;
  key: EncryptedSecret;
  key_fingerprint: string;
  key_id: string;
  team_id: string;
  production: boolean;
}

export interface StoredFcmSettings {
  client_email: string;
  private_key: EncryptedSecret;
  private_key_fingerprint: string;
  project_id: string;
}

export interface StoredPushSettings {
  enabled_clients: string[];
  strategy: PushStrategy;
  apns?: StoredApnsSettings;
  fcm?: StoredFcmSettings;
}

/**
 * One tenant's configuration of one MFA type, as stored. A deleted configuration stays as a tombstone
 * (deleted: true, no settings) so versions keep rising and its pending "deleted" event is not lost.
 */
export interface MfaConfigRecord {
  /** `tenant/type` (configRecordId): every lookup is by primary key, the one FerretDB does not scan for. */
  _id: string;
  tenant: string;
  type: MfaType;
  enabled: boolean;
  provider: MfaProvider;
  is_custom?: boolean;
  settings?: StoredPushSettings;
  version: number;
  /**
   * The version this configuration's current life began at (its create, or its re-create after a
   * delete); absent in documents written before it was kept. Reports about earlier versions are ignored.
   */
  created_version?: number;
  deleted: boolean;
  created_at: Date;
  updated_at: Date;
  pending_events: PendingConfigEvent[];
  /**
   * Set while pending_events is not empty (when the first of them was written), absent otherwise: the
   * outbox relay finds documents with events to publish through an index on it, not a collection scan.
   */
  outbox_pending_since?: Date;
  status?: AppliedStatus;
}

const encryptedSecret = new Schema<EncryptedSecret>(
  {
    kid: { type: String, required: true },
    nonce: { type: String, required: true },
    ciphertext: { type: String, required: true },
  },
  { _id: false },
);

export const MfaConfigSchema = new Schema<MfaConfigRecord>(
  {
    _id: { type: String, required: true },
    tenant: { type: String, required: true },
    type: { type: String, required: true },
    enabled: { type: Boolean, required: true },
    provider: { type: String, required: true },
    is_custom: { type: Boolean },
    settings: {
      type: new Schema<StoredPushSettings>(
        {
          enabled_clients: { type: [String], required: true },
          strategy: { type: String, required: true },
          apns: {
            type: new Schema<StoredApnsSettings>(
              {
                bundle_id: String,
                key: encryptedSecret,
                key_fingerprint: String,
                key_id: String,
                team_id: String,
                production: Boolean,
              },
              { _id: false },
            ),
            required: false,
          },
          fcm: {
            type: new Schema<StoredFcmSettings>(
              {
                client_email: String,
                private_key: encryptedSecret,
                private_key_fingerprint: String,
                project_id: String,
              },
              { _id: false },
            ),
            required: false,
          },
        },
        { _id: false },
      ),
      required: false,
    },
    version: { type: Number, required: true },
    created_version: { type: Number, required: false },
    deleted: { type: Boolean, required: true, default: false },
    created_at: { type: Date, required: true },
    updated_at: { type: Date, required: true },
    pending_events: {
      type: [
        new Schema<PendingConfigEvent>(
          { event_id: String, version: Number, change: String, occurred_at: Date },
          { _id: false },
        ),
      ],
      default: [],
    },
    outbox_pending_since: { type: Date, required: false },
    status: {
      type: new Schema<AppliedStatus>(
        { version: Number, state: String, error: String, at: Date, replica: String },
        { _id: false },
      ),
      required: false,
    },
  },
  { collection: 'mfa_configs', versionKey: false, strict: 'throw' },
);

// One configuration per tenant and type (the _id says so too; this index keeps it true for any writer).
MfaConfigSchema.index({ tenant: 1, type: 1 }, { unique: true });
// Sparse: only documents with events waiting for the relay are in it, a handful among any number.
MfaConfigSchema.index({ outbox_pending_since: 1 }, { sparse: true });

/** The document id of a tenant's configuration of a type. */
export function configRecordId(tenant: string, type: MfaType): string {
  return `${tenant}/${type}`;
}
