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
import { LiveClientRegistry, LoadOutcome } from './live-client-registry';

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
  /** Resyncs and the start-up key check under way: shutdown waits for them before the producer goes. */
  private readonly running = new Set<Promise<void>>();

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
        if (this.loaded) this.track(this.resyncAll(), 'resync after a rejoin');
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
    this.track(
      this.registry.checkDeferredKeys().then(async (failures) => {
        await this.reportEach(failures);
        // Then what the stored status does not say yet (changed while no dispatcher listened).
        await this.reportEach(
          outcomes.filter((outcome) => outcome.statusBehind).map((o) => this.stillLive(o)),
        );
      }),
      'reporting the start-up load',
    );
    this.resync = setInterval(
      () => this.track(this.resyncAll(), 'periodic resync'),
      this.config.dispatcher.resyncIntervalMs,
    );
    this.resync.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.resync);
    // Their reports go out before the producer is disconnected, and their clients are retired with the rest.
    await Promise.allSettled([...this.running]);
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

  /**
   * Reloads every configuration; what it finds changed (a missed event) is reported like an event, and
   * so is a version held here whose report the stored status does not show (lost, or never made).
   */
  private async resyncAll(): Promise<void> {
    let outcomes: LoadOutcome[];
    try {
      outcomes = await this.registry.loadAll();
    } catch (error) {
      this.logger.warn(`periodic resync failed, the clients held stay live: ${(error as Error).message}`);
      return;
    }
    await this.reportEach(
      outcomes.map((outcome) =>
        outcome.state === 'unchanged' && outcome.statusBehind ? this.stillLive(outcome) : outcome,
      ),
    );
  }

  /** `applied` for a version these clients still hold; nothing to report otherwise. */
  private stillLive(outcome: LoadOutcome): LoadOutcome {
    const live = this.registry.get(outcome.tenant)?.version === outcome.version;
    if (outcome.state === 'failed') return outcome;
    return live
      ? { tenant: outcome.tenant, state: 'applied', version: outcome.version }
      : { ...outcome, state: 'unchanged' };
  }

  /** Each report on its own: one that cannot be published is left to the next resync (the status stays behind). */
  private async reportEach(outcomes: LoadOutcome[]): Promise<void> {
    let unpublished = 0;
    for (const { tenant, statusBehind: _, ...outcome } of outcomes)
      await this.publisher.reportApplied(tenant, outcome).catch(() => (unpublished += 1));
    if (unpublished > 0)
      this.logger.warn(
        `${unpublished} configuration reports not published; the next resync sends them again`,
      );
  }

  private track(work: Promise<void>, what: string): void {
    const running = work.catch((error: Error) => this.logger.error(`${what}: ${error.message}`));
    this.running.add(running);
    void running.finally(() => this.running.delete(running));
  }
}
