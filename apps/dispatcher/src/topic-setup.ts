import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { resolveTopicNames, TopicKey, topicPartitions } from '@lib/contracts';
import { createKafkaClient, prepareTopics } from '@lib/kafka';

/**
 * Before the dispatcher's consumers and producers start: creates its topics when allowed, and otherwise
 * refuses to start without them, naming the missing ones.
 */
@Injectable()
export class TopicSetup implements OnModuleInit {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async onModuleInit(): Promise<void> {
    const names = resolveTopicNames(this.config.kafka);
    const partitions = topicPartitions(this.config.kafka);
    const admin = createKafkaClient(this.config.kafka, '-admin').admin();
    await admin.connect();
    try {
      await prepareTopics(
        admin,
        (Object.keys(names) as TopicKey[]).map((key) => ({
          topic: names[key],
          numPartitions: partitions[key],
        })),
        this.config.kafka.createTopics,
      );
    } finally {
      await admin.disconnect();
    }
  }
}
