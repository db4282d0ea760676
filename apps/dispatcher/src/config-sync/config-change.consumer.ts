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
import type { AppliedStatus } from '@lib/mfa-config';
import { within } from '@lib/runtime';
import { ResultPublisher } from '../results/result-publisher';
import { ApplyOutcome, LiveClientRegistry, LoadOutcome } from './live-client-registry';

/** How long shutdown waits for a resync's reports: not the whole grace, with Kafka away. */
const SHUTDOWN_WAIT_MS = 5000;
/**
 * A failure stored longer ago than this many resync intervals is sent again (so every second resync,
 * at the most), and one longer ago than the second, sent again by nobody, gives way to `applied`.
 */
const FAILURE_SENT_AGAIN_AFTER_RESYNCS = 1.5;
const FAILURE_FORGOTTEN_AFTER_RESYNCS = 3.5;

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
  /** Joins of the group before the start-up load ended: any after the first asks for a resync after it. */
  private joinsBeforeLoaded = 0;
  private resyncOnceLoaded = false;
  private stopping = false;
  /** The resync under way, and whether another was asked for meanwhile (it runs right after). */
  private resyncing?: Promise<void>;
  private resyncAgain = false;
  /** Work under way that shutdown waits for (briefly): resyncs and the start-up reports. */
  private readonly running = new Set<Promise<void>>();
  /**
   * Catch-up reports published, by tenant: a status nothing records (no config-api, say) is not
   * reported again at every resync. One whose publish failed is sent again.
   */
  private readonly caughtUp = new Map<string, number>();

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
      // Start-up loads the current state from the database once start() has measured where the topic
      // ends: the topic only needs to say what changes after that.
      fromBeginning: false,
      startAtEnds: true,
      eachMessage: (payload) => this.onMessage(payload),
      // A group that joins again goes on from its commits; one whose commits were lost (the seek to the
      // start did not reach the broker, say) starts at the latest event, and would skip those published
      // meanwhile: the store says what they were. A join during the start-up load counts too.
      onJoin: () => {
        if (this.loaded) this.resyncSoon();
        else if (++this.joinsBeforeLoaded > 1) this.resyncOnceLoaded = true;
      },
      // Named after this replica, which reads the topic from the latest event at every start.
      deleteGroupOnStop: true,
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.consumer.start();
    await this.consumer.ready;
    const outcomes = await this.registry.loadAll({ deferKeyChecks: true });
    this.loaded = true;
    if (this.resyncOnceLoaded) this.resyncSoon();
    this.logger.log(`${outcomes.filter((o) => o.state === 'applied').length} configurations loaded`);
    // Push requests flow meanwhile; a broken key found now is reported as its apply would have been.
    this.track(
      this.registry.checkDeferredKeys().then(async (failures) => {
        const reported = await this.reportEach(failures.map((failure) => () => failure));
        // Then what the stored status does not say yet (changed while no dispatcher listened), or
        // contradicts; the failures just sent are not sent twice.
        const failed = new Set(failures.map((failure) => failure.tenant));
        if (reported)
          await this.reportEach(outcomes.filter((o) => !failed.has(o.tenant)).map((o) => this.catchUp(o)));
      }),
      'reporting the start-up load',
    );
    this.resync = setInterval(() => this.resyncSoon(), this.config.dispatcher.resyncIntervalMs);
    this.resync.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.resync);
    // Their reports go out before the producer is disconnected, unless Kafka keeps them waiting.
    await within(Promise.allSettled([...this.running]), SHUTDOWN_WAIT_MS);
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

  /** A resync now, or right after the one under way (which may have read the store before a change). */
  private resyncSoon(): void {
    if (this.stopping) return;
    if (this.resyncing) {
      this.resyncAgain = true;
      return;
    }
    this.resyncing = this.resyncAll().finally(() => {
      this.resyncing = undefined;
      if (this.resyncAgain) {
        this.resyncAgain = false;
        this.resyncSoon();
      }
    });
    this.track(this.resyncing, 'resync');
  }

  /**
   * Reloads every configuration; what it finds changed (a missed event) is reported like an event, and
   * so is a version whose report the stored status lacks (lost, or made while nobody recorded it), or
   * contradicts (see `contradicts`).
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
      outcomes.map((outcome) => {
        if (outcome.state === 'applied' || outcome.state === 'removed') return () => outcome;
        // A failed apply, or a version held: only what the status lacks or contradicts.
        return this.catchUp(outcome);
      }),
    );
  }

  /**
   * The report a version gets when the stored status lacks it (none once one was published here) or
   * contradicts what this replica holds (`contradicts`), decided when its turn comes (a provider may
   * have refused the key meanwhile).
   */
  private catchUp({ tenant, version, statusBehind, reported }: LoadOutcome): () => LoadOutcome | undefined {
    return () => {
      const outcome = this.registry.catchUpOutcome(tenant, version);
      if (!outcome) return undefined;
      if (statusBehind) return this.caughtUp.get(tenant) === version ? undefined : { tenant, ...outcome };
      return reported && this.contradicts(reported, outcome) ? { tenant, ...outcome } : undefined;
    };
  }

  /**
   * Every replica reports, and the newest report stands, so one replica's failure to apply a version
   * (its MFA_ENCRYPTION_KEYS lacks the key, say) can be hidden by another's `applied`. A failing replica
   * therefore sends its failure again while the status does not show a recent one (any replica's: one
   * is enough), and an `applied` replaces another replica's failure only once nobody has sent it again
   * for a while (that replica was fixed, restarted under a new id, or is gone). Both count in this
   * replica's resync intervals: replicas must share CONFIG_RESYNC_INTERVAL_MS.
   */
  private contradicts(reported: AppliedStatus, outcome: ApplyOutcome): boolean {
    const { replicaId, resyncIntervalMs } = this.config.dispatcher;
    const age = Date.now() - new Date(reported.at).getTime();
    if (outcome.state === 'failed')
      return reported.state !== 'failed' || age > FAILURE_SENT_AGAIN_AFTER_RESYNCS * resyncIntervalMs;
    if (reported.state !== 'failed') return false;
    return reported.replica === replicaId || age > FAILURE_FORGOTTEN_AFTER_RESYNCS * resyncIntervalMs;
  }

  /**
   * Publishes the reports in turn. At the first that cannot be published it stops: Kafka is away, and
   * each would wait out the producer's retries; the next resync sends what is still missing. Returns
   * whether all went out.
   */
  private async reportEach(reports: (() => LoadOutcome | undefined)[]): Promise<boolean> {
    for (const report of reports) {
      const next = report();
      if (!next) continue;
      const { tenant, statusBehind: _, reported: __, ...outcome } = next;
      try {
        await this.publisher.reportApplied(tenant, outcome);
      } catch (error) {
        this.logger.warn(
          `configuration reports not all published (${(error as Error).message}); the next resync sends what is missing`,
        );
        return false;
      }
      // Kafka keeps it until the config-api records it: no need to send it again.
      this.caughtUp.set(tenant, outcome.version);
    }
    return true;
  }

  private track(work: Promise<void>, what: string): void {
    const running = work.catch((error: Error) => this.logger.error(`${what}: ${error.message}`));
    this.running.add(running);
    void running.finally(() => this.running.delete(running));
  }
}
