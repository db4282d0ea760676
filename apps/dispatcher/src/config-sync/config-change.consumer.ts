import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { EachMessagePayload } from 'kafkajs';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { configChangedSchema, EventValidator, resolveTopicNames } from '@lib/contracts';
import { createKafkaClient, ResilientConsumer } from '@lib/kafka';
import { ResultPublisher } from '../results/result-publisher';
import { LiveClientRegistry } from './live-client-registry';

/**
 * Keeps this replica's clients in step with the configuration: loads everything at start, applies
 * each mfa.config.changed event, and resyncs periodically to repair anything missed. The topic is a
 * broadcast: each replica reads it in a consumer group of its own.
 */
@Injectable()
export class ConfigChangeConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ConfigChangeConsumer.name);
  private readonly validator = new EventValidator(configChangedSchema);
  private readonly consumer: ResilientConsumer;
  private resync?: NodeJS.Timeout;
  private loaded = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly registry: LiveClientRegistry,
    private readonly publisher: ResultPublisher,
  ) {
    this.consumer = new ResilientConsumer(createKafkaClient(config.kafka, '-config-sync'), {
      name: ConfigChangeConsumer.name,
      topic: resolveTopicNames(config.kafka).configChanged,
      consumer: {
        groupId: `${config.kafka.topicPrefix}${config.dispatcher.consumerGroup}-config-${config.dispatcher.replicaId}`,
        sessionTimeout: config.kafka.sessionTimeoutMs,
        maxWaitTimeInMs: 100,
      },
      // Start-up loads the current state from the database; the topic only needs to say what changes next.
      fromBeginning: false,
      eachMessage: (payload) => this.onMessage(payload),
      // Until it has committed an offset, a group that joins again (after a broker restart, say) starts
      // at the latest event and would skip those published meanwhile: the store says what they were.
      onJoin: () => {
        if (this.loaded) void this.resyncAll();
      },
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.consumer.start();
    await this.consumer.ready;
    const outcomes = await this.registry.loadAll({ deferKeyChecks: true });
    this.loaded = true;
    this.logger.log(`${outcomes.filter((o) => o.state === 'applied').length} configurations loaded`);
    // Push requests flow meanwhile; a broken key found now is reported as its apply would have been.
    void this.registry
      .checkDeferredKeys()
      .then(async (failures) => {
        for (const { tenant, ...outcome } of failures) await this.publisher.reportApplied(tenant, outcome);
      })
      .catch((error: Error) =>
        this.logger.error(`reporting broken keys found at start-up: ${error.message}`),
      );
    this.resync = setInterval(() => void this.resyncAll(), this.config.dispatcher.resyncIntervalMs);
    this.resync.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.resync);
    await this.consumer.stop();
  }

  private async onMessage({ message }: EachMessagePayload): Promise<void> {
    const parsed = this.validator.parse(message.value);
    if (!parsed.ok) {
      this.logger.warn(`ignoring an invalid configuration event: ${parsed.reason}`);
      return;
    }
    const event = parsed.value;
    if (event.mfa_type !== 'push') return;
    const outcome = await this.registry.onChanged(event.tenant, event.mfa_type, event.version);
    await this.publisher.reportApplied(event.tenant, outcome);
  }

  /** Reloads every configuration; what it finds changed (a missed event) is reported like an event. */
  private async resyncAll(): Promise<void> {
    try {
      const outcomes = await this.registry.loadAll();
      for (const { tenant, ...outcome } of outcomes) await this.publisher.reportApplied(tenant, outcome);
    } catch (error) {
      this.logger.warn(`periodic resync failed, the clients held stay live: ${(error as Error).message}`);
    }
  }
}
