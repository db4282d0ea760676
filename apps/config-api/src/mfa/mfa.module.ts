import { Module } from '@nestjs/common';
import { MfaConfigModule } from '@lib/mfa-config';
import { AppliedStatusConsumer } from '../config-status/applied-status.consumer';
import { OutboxModule } from '../outbox/outbox.module';
import { AuditTrail } from './audit-trail';
import { MfaMethodsController } from './mfa-methods.controller';
import { MfaController } from './mfa.controller';
import { MfaService } from './mfa.service';

@Module({
  imports: [MfaConfigModule, OutboxModule],
  // In this order: MfaMethodsController answers only what MfaController does not take.
  controllers: [MfaController, MfaMethodsController],
  providers: [MfaService, AuditTrail, AppliedStatusConsumer],
})
export class MfaModule {}
