import { ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsObject, IsOptional, ValidateIf, ValidateNested } from 'class-validator';
import { ApnsSettingsDto, CreateMfaDto, FcmSettingsDto, PushSettingsDto } from './create-mfa.dto';

/** An omitted secret keeps its stored value. */
export class UpdateApnsSettingsDto extends PartialType(ApnsSettingsDto) {}
export class UpdateFcmSettingsDto extends PartialType(FcmSettingsDto) {}

const isPresent = (_: object, value: unknown) => value !== null && value !== undefined;

export class UpdatePushSettingsDto extends PartialType(OmitType(PushSettingsDto, ['apns', 'fcm'] as const)) {
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
