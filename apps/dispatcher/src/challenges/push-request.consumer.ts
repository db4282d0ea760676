import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { KafkaMessage } from 'kafkajs';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { resolveTopicNames } from '@lib/contracts';
import { createKafkaClient, ResilientConsumer } from '@lib/kafka';
import { LiveClientRegistry } from '../config-sync/live-client-registry';
import { PublishedResultsFollower } from '../results/published-results.follower';
import { ChallengeService } from './challenge.service';
import { parkedState, type ParkedState } from './parked-request';

/** Slots per partition for parked challenges, per slot of the push requests. */
const RETRYING_SLOTS_FACTOR = 16;

/**
 * Where push requests enter: mfa.push.requested, read by one consumer group shared by all replicas so
 * each request is handled once. Several requests of a partition are handled at once; a message's offset
 * is committed only after its result, and the results of every message before it, are published.
 * A request whose first attempt failed is handed to mfa.push.retrying, read by a group of its own
 * the same way, so that retrying challenges wait only behind each other.
 */
@Injectable()
export class PushRequestConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(PushRequestConsumer.name);
  private readonly consumers: ResilientConsumer[];

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly challenges: ChallengeService,
    private readonly registry: LiveClientRegistry,
    private readonly publishedResults: PublishedResultsFollower,
  ) {
    const topics = resolveTopicNames(config.kafka);
    const group = `${config.kafka.topicPrefix}${config.dispatcher.consumerGroup}`;
    const consumerOf = (
      name: string,
      topic: string,
      groupId: string,
      concurrencyPerPartition: number,
      /** null for a push request; for a parked copy its state, undefined when its headers are not a dispatcher's. */
      parkedStateOf: (message: KafkaMessage) => ParkedState | undefined | null,
    ) =>
      new ResilientConsumer(createKafkaClient(config.kafka, `-${name}`), {
        name: `${PushRequestConsumer.name}(${name})`,
        topic,
        consumer: { groupId, sessionTimeout: config.kafka.sessionTimeoutMs, maxWaitTimeInMs: 50 },
        fromBeginning: true,
        partitionsConsumedConcurrently: config.kafka.pushRequestPartitions,
        concurrencyPerPartition,
        handoverGraceMs: config.dispatcher.handoverGraceMs,
        eachMessage: async ({ topic, partition, message, heartbeat, withoutSlot }) => {
          const parked = parkedStateOf(message);
          // Only a foreign writer to the internal topic leaves this out.
          if (parked === undefined)
            return void this.logger.error(
              `${topic}/${partition}@${message.offset} has no parked state in its headers; dropped`,
            );
          await this.challenges.handle({
            key: message.key?.toString() ?? null,
            value: message.value,
            timestamp: message.timestamp,
            topic,
            partition,
            offset: message.offset,
            heartbeat,
            withoutSlot,
            ...(parked && { parked }),
          });
        },
      });
    this.consumers = [
      consumerOf('push', topics.pushRequested, group, config.dispatcher.concurrencyPerPartition, () => null),
      // A parked challenge mostly waits out a backoff (without its slot), and what a partition holds
      // in hand grows with its slots: many waiting at once cost memory, not CPU. Past that many (one
      // tenant's quota storm), the partition pauses until half of them are done, at the latest at expiry.
      consumerOf(
        'retrying',
        topics.pushRetrying,
        `${group}-retrying`,
        config.dispatcher.concurrencyPerPartition * RETRYING_SLOTS_FACTOR,
        (message) => parkedState(message.headers),
      ),
    ];
  }

  async onApplicationBootstrap(): Promise<void> {
    // Taking partitions with an empty registry would reject real requests as not configured, and before
    // the recent results are known a redelivered request would be pushed a second time.
    await Promise.all([this.registry.ready, this.publishedResults.caughtUp]);
    await Promise.all(this.consumers.map((consumer) => consumer.start()));
  }

  /** Before the clients and producers close: in-flight challenges finish and publish their results. */
  async beforeApplicationShutdown(): Promise<void> {
    this.challenges.stopRetrying();
    await Promise.all(this.consumers.map((consumer) => consumer.stop()));
  }
}
