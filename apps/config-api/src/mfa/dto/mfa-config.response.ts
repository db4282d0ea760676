import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  MFA_PROVIDERS,
  MFA_TYPES,
  type MfaProvider,
  type MfaType,
  PUSH_STRATEGIES,
  type PushStrategy,
} from '@lib/mfa-config';

/*
 * The response bodies, for the OpenAPI document (client generators type their results from it).
 * presentMfaConfig returns these types, so the compiler keeps the document and the answers together.
 */

const SECRET = { example: '[redacted]', description: 'Always the mask: secrets are never returned.' };
const FINGERPRINT = {
  example: 'sha256:5d41402abc4b2a76b9719d911017c592e3b0c44298fc1c149afbf4c8996fb924',
  pattern: '^sha256:[0-9a-f]{64}$',
  description: 'SHA-256 fingerprint of the public key: tells keys apart without revealing them.',
};

export class ApnsSettingsView {
  @ApiProperty({ example: 'com.example.authenticator' }) bundle_id!: string;
  @ApiProperty(SECRET) key!: string;
  @ApiProperty(FINGERPRINT) key_fingerprint!: string;
  @ApiProperty({ example: 'ABC123DEFG' }) key_id!: string;
  @ApiProperty({ example: true }) production!: boolean;
  @ApiProperty({ example: 'DEF123GHIJ' }) team_id!: string;
}

export class FcmSettingsView {
  @ApiProperty({ example: 'firebase-adminsdk@my-project.iam.gserviceaccount.com' }) client_email!: string;
  @ApiProperty(SECRET) private_key!: string;
  @ApiProperty(FINGERPRINT) private_key_fingerprint!: string;
  @ApiProperty({ example: 'my-project' }) project_id!: string;
}

export class PushSettingsView {
  @ApiProperty({ type: [String], example: ['web-login'] }) enabled_clients!: string[];
  @ApiProperty({ enum: PUSH_STRATEGIES, example: 'code' }) strategy!: PushStrategy;
  @ApiPropertyOptional({ type: ApnsSettingsView }) apns?: ApnsSettingsView;
  @ApiPropertyOptional({ type: FcmSettingsView }) fcm?: FcmSettingsView;
}

export class AppliedStatusView {
  @ApiProperty({ description: 'The version the dispatcher reported on.', example: 3 }) version!: number;
  @ApiProperty({ enum: ['applied', 'failed'] }) state!: 'applied' | 'failed';
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why applying failed, and what fixes it; null when applied.',
  })
  error!: string | null;
  @ApiProperty({ format: 'date-time' }) at!: string;
}

export class MfaConfigResponse {
  @ApiProperty({ example: true }) enabled!: boolean;
  @ApiProperty({ enum: MFA_PROVIDERS, example: 'native' }) provider!: MfaProvider;
  @ApiProperty({ enum: MFA_TYPES, example: 'push' }) type!: MfaType;
  @ApiPropertyOptional() is_custom?: boolean;
  @ApiProperty({ type: PushSettingsView }) settings!: PushSettingsView;
  @ApiProperty({ description: 'Rises with every change; events and status reports carry it.', example: 1 })
  version!: number;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiPropertyOptional({
    type: AppliedStatusView,
    description: "The dispatcher's latest report on applying this configuration; absent until one arrives.",
  })
  status?: AppliedStatusView;
}

/** What a configuration's answers show but requests do not take: a body copied from a GET holds them. */
export const RESPONSE_ONLY_FIELDS: ReadonlySet<string> = new Set([
  'version',
  'created_at',
  'updated_at',
  'status',
  'settings.apns.key_fingerprint',
  'settings.fcm.private_key_fingerprint',
]);

export class MfaConfigListResponse {
  @ApiProperty({ description: 'How many configurations the tenant has, whatever the page.' }) total!: number;
  @ApiProperty({ type: [MfaConfigResponse] }) results!: MfaConfigResponse[];
}
