import { Module } from '@nestjs/common';
import { MfaConfigModule } from '@lib/mfa-config';
import { OutboxRelay } from './outbox-relay';

@Module({ imports: [MfaConfigModule], providers: [OutboxRelay], exports: [OutboxRelay] })
export class OutboxModule {}
