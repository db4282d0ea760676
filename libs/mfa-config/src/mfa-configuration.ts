/** The push-MFA configuration as the API specifies it (create-mfa-api), with secrets in plaintext. */
export const MFA_TYPES = ['push'] as const;
export const MFA_PROVIDERS = ['native'] as const;
export const PUSH_STRATEGIES = ['code', 'prompt'] as const;
export const MAX_ENABLED_CLIENTS = 1000;

export type MfaType = (typeof MFA_TYPES)[number];
export type MfaProvider = (typeof MFA_PROVIDERS)[number];
export type PushStrategy = (typeof PUSH_STRATEGIES)[number];

export interface ApnsSettings {
  bundle_id: string;
  /** The .p8 key (PKCS#8 PEM, EC P-256). */
  key: string;
  key_id: string;
  team_id: string;
  production: boolean;
}

export interface FcmSettings {
  client_email: string;
  /** The service account's RSA private key (PEM). */
  private_key: string;
  project_id: string;
}

export interface PushMfaSettings {
  enabled_clients: string[];
  strategy: PushStrategy;
  apns?: ApnsSettings;
  fcm?: FcmSettings;
}

export interface MfaConfiguration {
  enabled: boolean;
  provider: MfaProvider;
  type: MfaType;
  is_custom?: boolean;
  settings: PushMfaSettings;
}
