import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsDefined,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  MaxLength,
  type ValidationArguments,
  ValidateNested,
} from 'class-validator';
import {
  MAX_ENABLED_CLIENTS,
  MFA_PROVIDERS,
  MFA_TYPES,
  type MfaProvider,
  type MfaType,
  PUSH_STRATEGIES,
  type PushStrategy,
} from '@lib/mfa-config';

/** As a PATCH says it: a null is a value sent, not a field left out. */
const REQUIRED = {
  message: ({ value }: ValidationArguments) => (value === null ? 'must not be null' : 'is required'),
};
export const oneOf = (values: readonly string[]) => ({ message: `must be one of: ${values.join(', ')}` });
const PEM_MAX = 16_384;
const ID_MAX = 255;

export class ApnsSettingsDto {
  @ApiProperty({
    example: 'com.example.authenticator',
    description: 'The app bundle id: letters, digits, hyphens and periods (usually reverse DNS).',
  })
  @IsDefined(REQUIRED)
  @IsString()
  @MaxLength(ID_MAX)
  bundle_id!: string;

  @ApiProperty({
    description: 'The .p8 key from Apple (PKCS#8 PEM, EC P-256). Write-only: responses show a mask.',
    example:
      '-----BEGIN PRIVATE KEY-----\nMIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg...\n-----END PRIVATE KEY-----',
    writeOnly: true,
  })
  @IsDefined(REQUIRED)
  @IsString()
  @MaxLength(PEM_MAX)
  key!: string;

  @ApiProperty({ example: 'ABC123DEFG', description: '10-character key id of the .p8 key.' })
  @IsDefined(REQUIRED)
  @IsString()
  @MaxLength(ID_MAX)
  key_id!: string;

  @ApiPropertyOptional({ default: true, description: 'true: api.push.apple.com; false: the sandbox host.' })
  @IsOptional()
  @IsBoolean()
  production?: boolean;

  @ApiProperty({ example: 'DEF123GHIJ', description: '10-character Apple developer team id.' })
  @IsDefined(REQUIRED)
  @IsString()
  @MaxLength(ID_MAX)
  team_id!: string;
}

export class FcmSettingsDto {
  @ApiProperty({ example: 'firebase-adminsdk@my-project.iam.gserviceaccount.com' })
  @IsDefined(REQUIRED)
  @IsString()
  @MaxLength(ID_MAX)
  client_email!: string;

  @ApiProperty({
    description: 'private_key of the service account JSON (PEM; \\n-escaped is accepted). Write-only.',
    example:
      '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC...\\n-----END PRIVATE KEY-----\\n',
    writeOnly: true,
  })
  @IsDefined(REQUIRED)
  @IsString()
  @MaxLength(PEM_MAX)
  private_key!: string;

  @ApiProperty({ example: 'my-project' })
  @IsDefined(REQUIRED)
  @IsString()
  @MaxLength(ID_MAX)
  project_id!: string;
}

export class PushSettingsDto {
  @ApiProperty({
    type: [String],
    example: ['web-login', 'admin-console'],
    description: 'The clients pushes are sent for: at least one while the configuration is enabled.',
    maxItems: MAX_ENABLED_CLIENTS,
  })
  @IsDefined(REQUIRED)
  @IsArray()
  @ArrayMaxSize(MAX_ENABLED_CLIENTS)
  @IsString({ each: true })
  @MaxLength(ID_MAX, { each: true })
  enabled_clients!: string[];

  @ApiPropertyOptional({ enum: PUSH_STRATEGIES, default: 'code', description: 'Push notification strategy.' })
  @IsOptional()
  @IsIn(PUSH_STRATEGIES, oneOf(PUSH_STRATEGIES))
  strategy?: PushStrategy;

  @ApiPropertyOptional({ type: ApnsSettingsDto, description: 'Apple Push Notification Service settings.' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => ApnsSettingsDto)
  apns?: ApnsSettingsDto;

  @ApiPropertyOptional({ type: FcmSettingsDto, description: 'Firebase Cloud Messaging settings.' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => FcmSettingsDto)
  fcm?: FcmSettingsDto;
}

export class CreateMfaDto {
  @ApiProperty({ example: true })
  @IsDefined(REQUIRED)
  @IsBoolean()
  enabled!: boolean;

  @ApiProperty({ enum: MFA_PROVIDERS, example: 'native' })
  @IsDefined(REQUIRED)
  @IsIn(MFA_PROVIDERS, oneOf(MFA_PROVIDERS))
  provider!: MfaProvider;

  @ApiProperty({ enum: MFA_TYPES, example: 'push' })
  @IsDefined(REQUIRED)
  @IsIn(MFA_TYPES, oneOf(MFA_TYPES))
  type!: MfaType;

  @ApiPropertyOptional({ description: 'Is connection using custom scripts' })
  @IsOptional()
  @IsBoolean()
  is_custom?: boolean;

  @ApiProperty({ type: PushSettingsDto })
  @IsDefined(REQUIRED)
  @IsObject()
  @ValidateNested()
  @Type(() => PushSettingsDto)
  settings!: PushSettingsDto;
}
