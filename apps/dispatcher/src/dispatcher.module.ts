import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig, AppConfigModule } from '@lib/config';
import { MfaConfigModule, MongoModule } from '@lib/mfa-config';
import { ChallengeService } from './challenges/challenge.service';
import { PushRequestConsumer } from './challenges/push-request.consumer';
import { ConfigChangeConsumer } from './config-sync/config-change.consumer';
import { OperationsServer } from './health/operations.server';
import { ConsumerLag } from './metrics/consumer-lag';
import { DispatcherMetrics } from './metrics/dispatcher-metrics';
import { LiveClientRegistry } from './config-sync/live-client-registry';
import { ResultPublisher } from './results/result-publisher';
import { TopicSetup } from './topic-setup';
import { SenderFactory } from './senders/sender-factory';

@Module({})
export class DispatcherModule {
  /** Without a config, the environment is validated (start-up fails on a bad variable). */
  static forRoot(config?: AppConfig): DynamicModule {
    return {
      module: DispatcherModule,
      imports: [AppConfigModule.forRoot(config), MongoModule, MfaConfigModule],
      providers: [
        DispatcherMetrics,
        ConsumerLag,
        TopicSetup,
        SenderFactory,
        LiveClientRegistry,
        ResultPublisher,
        ConfigChangeConsumer,
        ChallengeService,
        PushRequestConsumer,
        OperationsServer,
      ],
    };
  }
}
