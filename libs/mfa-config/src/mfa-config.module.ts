import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { CryptoModule } from '@lib/crypto';
import { MFA_CONFIG_MODEL, MfaConfigSchema } from './mfa-config.schema';
import { MfaConfigRepository } from './mfa-config.repository';
import { MfaConfigSealer } from './mfa-config.sealer';

/** The configuration store shared by config-api and dispatcher; the app provides the Mongo connection. */
@Module({
  imports: [CryptoModule, MongooseModule.forFeature([{ name: MFA_CONFIG_MODEL, schema: MfaConfigSchema }])],
  providers: [MfaConfigRepository, MfaConfigSealer],
  exports: [MfaConfigRepository, MfaConfigSealer],
})
export class MfaConfigModule {}
