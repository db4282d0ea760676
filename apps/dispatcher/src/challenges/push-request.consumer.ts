import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { resolveTopicNames } from '@lib/contracts';
import { createKafkaClient, ResilientConsumer } from '@lib/kafka';
import { LiveClientRegistry } from '../config-sync/live-client-registry';
import { PublishedResultsFollower } from '../results/published-results.follower';
import { ChallengeService } from './challenge.service';

/**
 * Where push requests enter: mfa.push.requested, read by one consumer group shared by all replicas so
 * each request is handled once. Several requests of a partition are handled at once; a message's offset
 * is committed only after its result, and the results of every message before it, are published.
 */
@Injectable()
export class PushRequestConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly consumer: ResilientConsumer;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly challenges: ChallengeService,
    private readonly registry: LiveClientRegistry,
    private readonly publishedResults: PublishedResultsFollower,
  ) {
    this.consumer = new ResilientConsumer(createKafkaClient(config.kafka, '-push'), {
      name: PushRequestConsumer.name,
      topic: resolveTopicNames(config.kafka).pushRequested,
      consumer: {
        groupId: `${config.kafka.topicPrefix}${config.dispatcher.consumerGroup}`,
        sessionTimeout: config.kafka.sessionTimeoutMs,
        maxWaitTimeInMs: 50,
      },
      fromBeginning: true,
      partitionsConsumedConcurrently: config.kafka.pushRequestPartitions,
      concurrencyPerPartition: config.dispatcher.concurrencyPerPartition,
      handoverGraceMs: config.dispatcher.handoverGraceMs,
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
    // Taking partitions with an empty registry would reject real requests as not configured, and before
    // the recent results are known a redelivered request would be pushed a second time.
    await Promise.all([this.registry.ready, this.publishedResults.caughtUp]);
    await this.consumer.start();
  }

  /** Before the clients and producers close: in-flight challenges finish and publish their results. */
  async beforeApplicationShutdown(): Promise<void> {
    this.challenges.stopRetrying();
    await this.consumer.stop();
  }
}
