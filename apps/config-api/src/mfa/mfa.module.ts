import { Module } from '@nestjs/common';
import { MfaConfigModule } from '@lib/mfa-config';
import { OutboxModule } from '../outbox/outbox.module';
import { MfaController } from './mfa.controller';
import { MfaService } from './mfa.service';

@Module({ imports: [MfaConfigModule, OutboxModule], controllers: [MfaController], providers: [MfaService] })
export class MfaModule {}
