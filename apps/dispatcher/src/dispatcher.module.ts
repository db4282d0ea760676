import { DynamicModule, Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig, AppConfigModule } from '@lib/config';
import { MfaConfigModule, MongoModule } from '@lib/mfa-config';
import { ChallengeLedger } from './challenges/challenge-ledger';
import { ChallengeService } from './challenges/challenge.service';
import { NumberMatching } from './challenges/number-matching';
import { PushRequestConsumer } from './challenges/push-request.consumer';
import { ConfigChangeConsumer } from './config-sync/config-change.consumer';
import { OperationsServer } from './health/operations.server';
import { ConsumerLag } from './metrics/consumer-lag';
import { DispatcherMetrics } from './metrics/dispatcher-metrics';
import { LiveClientRegistry } from './config-sync/live-client-registry';
import { PublishedResultsFollower } from './results/published-results.follower';
import { ResultPublisher } from './results/result-publisher';
import { TopicSetup } from './topic-setup';
import { SenderFactory } from './senders/sender-factory';

@Module({})
export class DispatcherModule {
  static forRoot(config: AppConfig): DynamicModule {
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
        NumberMatching,
        {
          provide: ChallengeLedger,
          useFactory: (config: AppConfig) => new ChallengeLedger(config.dispatcher.dedupCapacity),
          inject: [APP_CONFIG],
        },
        PublishedResultsFollower,
        ChallengeService,
        PushRequestConsumer,
        OperationsServer,
      ],
    };
  }
}
