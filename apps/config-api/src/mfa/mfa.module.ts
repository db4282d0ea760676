import { Module } from '@nestjs/common';
import { MfaConfigModule } from '@lib/mfa-config';
import { AppliedStatusConsumer } from '../config-status/applied-status.consumer';
import { OutboxModule } from '../outbox/outbox.module';
import { AuditTrail } from './audit-trail';
import { MfaController } from './mfa.controller';
import { MfaService } from './mfa.service';

@Module({
  imports: [MfaConfigModule, OutboxModule],
  controllers: [MfaController],
  providers: [MfaService, AuditTrail, AppliedStatusConsumer],
})
export class MfaModule {}
