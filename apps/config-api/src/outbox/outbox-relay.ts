import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Producer } from 'kafkajs';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { ConfigChangedEvent, configChangedKey, resolveTopicNames, topicPartitions } from '@lib/contracts';
import { createKafkaClient, orderedIdempotentProducer, prepareTopics } from '@lib/kafka';
import { configRecordId, MfaConfigRecord, MfaConfigRepository, MfaType } from '@lib/mfa-config';

const IDLE_POLL_MS = 1000;
const MAX_BACKOFF_MS = 10_000;
const BATCH_DOCUMENTS = 100;
/**
 * Events of one document per produce request: about 250 bytes each, so a request stays far below the
 * broker's 1 MB limit. A document holds one per write made while Kafka was away; sent all at once, a
 * long outage's backlog was refused for ever, and, its document being the oldest pending, held back
 * every other tenant's events behind it.
 */
const EVENTS_PER_SEND = 500;
/**
 * How often the relay also scans for documents with events but no outbox_pending_since, which a
 * version before that field writes: at start, then at this slow rate while older replicas may still
 * run (a rolling deploy). It can go once no such version runs anywhere.
 */
const UNINDEXED_SCAN_EVERY_MS = 5 * 60_000;

/**
 * Publishes the configuration-changed events that writes leave in their documents, in version order,
 * then removes them from the document. Kafka being down delays events; it never loses them, because
 * an event leaves the document only after the broker has acknowledged it. A relay in another API
 * replica may publish an event twice; consumers ignore versions they already hold.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly topic: string;
  private producer?: Producer;
  private running = false;
  private wakeUp?: () => void;
  /** Set by wake(), cleared when a pass starts: a wake during a pass means another pass at once. */
  private wakeRequested = false;
  /** Documents written through this replica since the last pass, by id. */
  private readonly written = new Map<string, { tenant: string; type: MfaType }>();
  private lastScanAt = 0;
  private lastUnindexedScanAt = 0;
  private loop?: Promise<void>;
  private failures = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: MfaConfigRepository,
  ) {
    this.topic = resolveTopicNames(config.kafka).configChanged;
  }

  onApplicationBootstrap(): void {
    this.running = true;
    this.loop = this.run();
  }

  async onApplicationShutdown(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    // Events written by the last requests go out now rather than at the next start, unless Kafka is away.
    if (this.failures === 0)
      await this.flush().catch((error: Error) =>
        this.logger.warn(`events left for the next start: ${error.message}`),
      );
    await this.producer?.disconnect().catch(() => undefined);
  }

  /**
   * Called after a write, so its event goes out now rather than at the next poll: the written
   * document is read by its id, not found by a scan (which FerretDB makes slow under write load).
   */
  wake(written?: { tenant: string; type: MfaType }): void {
    if (written) this.written.set(configRecordId(written.tenant, written.type), written);
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  /**
   * Publishes everything pending once; returns how many events of what it found went out (not those of
   * documents written meanwhile, which go out first).
   */
  async flush(): Promise<number> {
    this.wakeRequested = false;
    const producer = await this.connectedProducer();
    let published = 0;
    const publishedMeanwhile = new Set<string>();
    for (const record of await this.pendingDocuments()) {
      // A write made during a long pass (a backlog left by an outage or found at start) goes out
      // before the rest of it: its admin is waiting, the backlog has waited already.
      // Not counted: the count says whether the backlog may hold more (run() then goes again at once).
      if (this.written.size > 0) await this.publishWritten(publishedMeanwhile);
      // Read before that write: its events went out just now, with the write's.
      if (publishedMeanwhile.has(configRecordId(record.tenant, record.type))) continue;
      published += await this.publish(producer, record);
    }
    return published;
  }

  /** The indexed query, and now and then the scan for what an older version wrote: never one instead of the other. */
  private async pendingDocuments(): Promise<MfaConfigRecord[]> {
    const pending = await this.repository.findWithPendingEvents(BATCH_DOCUMENTS);
    if (Date.now() - this.lastUnindexedScanAt < UNINDEXED_SCAN_EVERY_MS) return pending;
    const unindexed = await this.repository.findWithUnindexedPendingEvents(BATCH_DOCUMENTS);
    // A full batch may have left more: scan again next pass rather than in five minutes.
    this.lastUnindexedScanAt = unindexed.length < BATCH_DOCUMENTS ? Date.now() : 0;
    return [...pending, ...unindexed];
  }

  /** Publishes the events of the documents written since the last pass, adding their ids to `done`. */
  private async publishWritten(done?: Set<string>): Promise<number> {
    this.wakeRequested = false;
    const documents = [...this.written.values()];
    this.written.clear();
    try {
      const producer = await this.connectedProducer();
      let published = 0;
      for (const { tenant, type } of documents) {
        const record = await this.repository.findAny(tenant, type, { committed: true });
        if (record && record.pending_events.length > 0) published += await this.publish(producer, record);
        done?.add(configRecordId(tenant, type));
      }
      return published;
    } catch (error) {
      // Kept for the next pass; the periodic scan would find them too.
      for (const document of documents)
        this.written.set(configRecordId(document.tenant, document.type), document);
      throw error;
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      let delay = IDLE_POLL_MS;
      try {
        if (this.written.size > 0) await this.publishWritten();
        // The scan still runs every poll interval under a stream of writes: it finds what other
        // replicas or earlier starts left. One that found events may have left more: go again at once.
        if (Date.now() - this.lastScanAt >= IDLE_POLL_MS) {
          this.lastScanAt = Date.now();
          if ((await this.flush()) > 0) {
            this.lastScanAt = 0;
            delay = 0;
          }
        }
        this.failures = 0;
      } catch (error) {
        this.failures += 1;
        delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.failures);
        this.logger.warn(
          `configuration events not published yet, retrying in ${delay} ms: ${(error as Error).message}`,
        );
        await this.resetProducer();
      }
      if (this.running && delay > 0) await this.sleep(delay);
    }
  }

  private async publish(producer: Producer, record: MfaConfigRecord): Promise<number> {
    const events = [...record.pending_events].sort((a, b) => a.version - b.version);
    const key = configChangedKey(record.tenant, record.type);
    const messages = events.map((event) => {
      const value: ConfigChangedEvent = {
        event_id: event.event_id,
        type: 'mfa.config.changed',
        tenant: record.tenant,
        mfa_type: record.type,
        version: event.version,
        change: event.change,
        occurred_at: new Date(event.occurred_at).toISOString(),
      };
      return { key, value: JSON.stringify(value) };
    });
    // In turn, in version order: a failure part way sends them all again next time (consumers ignore
    // versions they hold).
    for (let start = 0; start < messages.length; start += EVENTS_PER_SEND)
      await producer.send({ topic: this.topic, messages: messages.slice(start, start + EVENTS_PER_SEND) });
    const removed = await this.repository.markEventsPublished(
      record,
      events.map((event) => event.event_id),
    );
    // Events still in the document go out again at the next poll, not in a tight loop.
    return removed ? events.length : 0;
  }

  private async connectedProducer(): Promise<Producer> {
    if (this.producer) return this.producer;
    const kafka = createKafkaClient(this.config.kafka, '-outbox');
    // Also when the topic may not be created: the retry warnings then name it instead of a bare
    // "does not host this topic-partition".
    const admin = kafka.admin();
    await admin.connect();
    try {
      const numPartitions = topicPartitions(this.config.kafka).configChanged;
      await prepareTopics(admin, [{ topic: this.topic, numPartitions }], this.config.kafka.createTopics);
    } finally {
      await admin.disconnect();
    }
    // Idempotent, one request in flight: a retried send neither duplicates nor reorders a tenant's events.
    const producer = orderedIdempotentProducer(kafka);
    await producer.connect();
    this.producer = producer;
    return producer;
  }

  private async resetProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    // A write that woke the relay while it was publishing is not left for the next poll.
    if (this.wakeRequested) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }
}
