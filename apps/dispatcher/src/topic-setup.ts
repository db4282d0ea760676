import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { CONFIG_TOPIC_PARTITIONS, resolveTopicNames } from '@lib/contracts';
import { createKafkaClient, ensureTopics } from '@lib/kafka';

/** Creates the dispatcher's topics before its consumers and producers start, when allowed. */
@Injectable()
export class TopicSetup implements OnModuleInit {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async onModuleInit(): Promise<void> {
    if (!this.config.kafka.createTopics) return;
    const topics = resolveTopicNames(this.config.kafka);
    const admin = createKafkaClient(this.config.kafka, '-admin').admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [
        { topic: topics.pushRequested, numPartitions: this.config.kafka.pushRequestPartitions },
        { topic: topics.pushResults, numPartitions: this.config.kafka.pushRequestPartitions },
        { topic: topics.pushDeadLetter, numPartitions: 1 },
        { topic: topics.configChanged, numPartitions: CONFIG_TOPIC_PARTITIONS },
        { topic: topics.configApplied, numPartitions: CONFIG_TOPIC_PARTITIONS },
      ]);
    } finally {
      await admin.disconnect();
    }
  }
}
