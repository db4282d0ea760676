import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { resolveTopicNames } from '@lib/contracts';
import { createKafkaClient, ResilientConsumer } from '@lib/kafka';
import { ChallengeService } from './challenge.service';

/**
 * Where push requests enter: mfa.push.requested, read by one consumer group shared by all replicas so
 * each request is handled once. A message's offset is committed only after its result is published.
 */
@Injectable()
export class PushRequestConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly consumer: ResilientConsumer;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly challenges: ChallengeService,
  ) {
    this.consumer = new ResilientConsumer(createKafkaClient(config.kafka, '-push'), {
      name: PushRequestConsumer.name,
      topic: resolveTopicNames(config.kafka).pushRequested,
      consumer: { groupId: config.dispatcher.consumerGroup, maxWaitTimeInMs: 50 },
      fromBeginning: true,
      partitionsConsumedConcurrently: config.kafka.pushRequestPartitions,
      eachMessage: ({ topic, partition, message, heartbeat }) =>
        this.challenges.handle({
          key: message.key?.toString() ?? null,
          value: message.value,
          timestamp: message.timestamp,
          topic,
          partition,
          offset: message.offset,
          heartbeat,
        }),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.consumer.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }
}
