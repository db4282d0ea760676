import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { EachMessagePayload } from 'kafkajs';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { configAppliedSchema, EventValidator, resolveTopicNames, topicPartitions } from '@lib/contracts';
import { createKafkaClient, ResilientConsumer } from '@lib/kafka';
import { MFA_TYPES, MfaConfigRepository, MfaType } from '@lib/mfa-config';

/**
 * Records what the dispatchers report on mfa.config.applied in the configuration document, so
 * `GET /mfa/push` shows whether the admin's last change is live (or why not) without reading logs.
 */
@Injectable()
export class AppliedStatusConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly validator = new EventValidator(configAppliedSchema);
  private readonly consumer: ResilientConsumer;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly repository: MfaConfigRepository,
  ) {
    this.consumer = new ResilientConsumer(createKafkaClient(config.kafka, '-status'), {
      name: AppliedStatusConsumer.name,
      topic: resolveTopicNames(config.kafka).configApplied,
      // One group for all API replicas: each report needs recording once.
      consumer: {
        groupId: `${config.kafka.topicPrefix}${config.kafka.clientId}-config-api-status`,
        sessionTimeout: config.kafka.sessionTimeoutMs,
        maxWaitTimeInMs: 200,
      },
      fromBeginning: true,
      createTopicPartitions: config.kafka.createTopics
        ? topicPartitions(config.kafka).configApplied
        : undefined,
      eachMessage: (payload) => this.onMessage(payload),
    });
  }

  onApplicationBootstrap(): void {
    // Kafka being away must not keep the API from serving; the consumer joins when it can.
    this.consumer.startInBackground();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }

  private async onMessage({ message }: EachMessagePayload): Promise<void> {
    const parsed = this.validator.parse(message.value);
    if (!parsed.ok || !(MFA_TYPES as readonly string[]).includes(parsed.value.mfa_type)) return;
    const report = parsed.value;
    await this.repository.recordAppliedStatus(report.tenant, report.mfa_type as MfaType, {
      version: report.version,
      state: report.status,
      ...(report.error && { error: report.error }),
      at: new Date(report.at),
      replica: report.replica,
    });
  }
}
