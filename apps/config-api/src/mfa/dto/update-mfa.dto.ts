import { ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsObject, IsOptional, ValidateIf, ValidateNested } from 'class-validator';
import { PUSH_STRATEGIES, type PushStrategy } from '@lib/mfa-config';
import { ApnsSettingsDto, CreateMfaDto, FcmSettingsDto, oneOf, PushSettingsDto } from './create-mfa.dto';

const KEPT = 'Omitted: keeps its stored value';

/** An omitted secret keeps its stored value. */
export class UpdateApnsSettingsDto extends PartialType(OmitType(ApnsSettingsDto, ['production'] as const)) {
  // Without the create's `default`: here an omitted field keeps its stored value.
  @ApiPropertyOptional({
    description: `true: api.push.apple.com; false: the sandbox host. ${KEPT} (true when this PATCH adds apns).`,
  })
  @IsOptional()
  @IsBoolean()
  production?: boolean;
}
export class UpdateFcmSettingsDto extends PartialType(FcmSettingsDto) {}

const isPresent = (_: object, value: unknown) => value !== null && value !== undefined;

export class UpdatePushSettingsDto extends PartialType(
  OmitType(PushSettingsDto, ['apns', 'fcm', 'strategy'] as const),
) {
  @ApiPropertyOptional({ enum: PUSH_STRATEGIES, description: `Push notification strategy. ${KEPT}.` })
  @IsOptional()
  @IsIn(PUSH_STRATEGIES, oneOf(PUSH_STRATEGIES))
  strategy?: PushStrategy;

  @ApiPropertyOptional({ type: UpdateApnsSettingsDto, nullable: true, description: 'null removes APNs.' })
  @ValidateIf(isPresent)
  @IsObject()
  @ValidateNested()
  @Type(() => UpdateApnsSettingsDto)
  apns?: UpdateApnsSettingsDto | null;

  @ApiPropertyOptional({ type: UpdateFcmSettingsDto, nullable: true, description: 'null removes FCM.' })
  @ValidateIf(isPresent)
  @IsObject()
  @ValidateNested()
  @Type(() => UpdateFcmSettingsDto)
  fcm?: UpdateFcmSettingsDto | null;
}

/** Every field optional; the merged result is validated as a whole. */
export class UpdateMfaDto extends PartialType(OmitType(CreateMfaDto, ['settings'] as const)) {
  @ApiPropertyOptional({ type: UpdatePushSettingsDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => UpdatePushSettingsDto)
  settings?: UpdatePushSettingsDto;
}
