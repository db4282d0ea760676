import { Module } from '@nestjs/common';
import { MfaConfigModule } from '@lib/mfa-config';
import { AppliedStatusConsumer } from '../config-status/applied-status.consumer';
import { OutboxModule } from '../outbox/outbox.module';
import { MfaController } from './mfa.controller';
import { MfaService } from './mfa.service';

@Module({
  imports: [MfaConfigModule, OutboxModule],
  controllers: [MfaController],
  providers: [MfaService, AppliedStatusConsumer],
})
export class MfaModule {}
