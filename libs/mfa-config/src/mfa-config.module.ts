import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { CryptoModule } from '@lib/crypto';
import { MFA_CONFIG_MODEL, MfaConfigSchema } from './mfa-config.schema';
import { MfaConfigRepository } from './mfa-config.repository';
import { MfaConfigSealer } from './mfa-config.sealer';
import { KeyringGuard } from './keyring-guard';

/**
 * The configuration store shared by config-api and dispatcher; the app provides the Mongo connection.
 * Start-up fails if MFA_ENCRYPTION_KEYS gives an id other bytes than the store knows it by (KeyringGuard).
 */
@Module({
  imports: [CryptoModule, MongooseModule.forFeature([{ name: MFA_CONFIG_MODEL, schema: MfaConfigSchema }])],
  providers: [MfaConfigRepository, MfaConfigSealer, KeyringGuard],
  exports: [MfaConfigRepository, MfaConfigSealer],
})
export class MfaConfigModule {}
