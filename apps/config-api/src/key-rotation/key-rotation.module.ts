import { Module } from '@nestjs/common';
import { MfaConfigModule } from '@lib/mfa-config';
import { SecretResealer } from './secret-resealer';

@Module({ imports: [MfaConfigModule], providers: [SecretResealer], exports: [SecretResealer] })
export class KeyRotationModule {}
