import { randomUUID } from 'node:crypto';
import type { Consumer } from 'kafkajs';
import type { KafkaSettings } from '@lib/config';
import {
  DEFAULT_TENANT,
  EventValidator,
  MAX_CHALLENGE_TTL_MS,
  PushRequestedEvent,
  pushRequestedSchema,
  PushResultEvent,
  resolveTopicNames,
  TopicNames,
} from '@lib/contracts';
import { createKafkaClient, orderedIdempotentProducer, RenewingProducer } from '@lib/kafka';

export class InvalidPushRequestError extends Error {}
export class PushResultTimeoutError extends Error {}

/**
 * What an internal Node service uses to ask for an MFA push: validates the request against the
 * schema the dispatcher enforces, produces it keyed by challenge id, and can await its result.
 */
/** Results kept for anyone who awaits them later, whatever challenge they answer (every client sees every result). */
const RECENT_RESULTS = 10_000;

export class PushClient {
  private readonly topics: TopicNames;
  private readonly validator = new EventValidator(pushRequestedSchema);
  private readonly producer: RenewingProducer;
  private consumer?: Consumer;
  private readonly waiting = new Map<string, Set<(result: PushResultEvent) => void>>();
  /** The last results seen, awaited or not, so a late or second awaitResult finds its result. */
  private readonly recent = new Map<string, PushResultEvent>();
  /**
   * The challenges this client requested, until they expire, and their results: kept apart from the
   * recent ones, which a busy system pushes out within seconds.
   */
  private readonly requested = new Map<
    string,
    { tenant: string; expiresAt: number; result?: PushResultEvent }
  >();

  constructor(private readonly settings: KafkaSettings) {
    this.topics = resolveTopicNames(settings);
    const kafka = createKafkaClient(settings, '-push-client');
    this.producer = new RenewingProducer(() => orderedIdempotentProducer(kafka));
  }

  /**
   * Connects the producer and, with awaitResults, a result listener. It resolves once the listener has
   * its reading position, so no result published after that is missed.
   */
  async connect(options: { awaitResults?: boolean } = {}): Promise<void> {
    await this.producer.connect();
    if (!options.awaitResults) return;
    const kafka = createKafkaClient(this.settings, '-push-client-results');
    const topic = this.topics.pushResults;
    const missing = (error: Error) =>
      new Error(
        `cannot read ${topic} (${error.message}); the dispatcher creates it when it starts, or create it yourself`,
      );
    // Where each partition ends now: reading starts there, so nothing published from here on is missed
    // (kafkajs's own "latest" is taken at its first fetch, some time after the join).
    const admin = kafka.admin();
    await admin.connect();
    const ends = await admin
      .fetchTopicOffsets(topic)
      .catch((error: Error) => {
        throw missing(error);
      })
      .finally(() => admin.disconnect());
    // A group of its own: every client instance sees every result and picks out its own. It commits
    // nothing, so Kafka drops the group once the instance is gone. Instead, it keeps where to read next
    // per partition and seeks there at every join: a rejoin (a broker restart, a coordinator move) or a
    // kafkajs restart would otherwise start again from the latest result, and skip some.
    const next = new Map(ends.map(({ partition, high }) => [partition, high]));
    const consumer = kafka.consumer({
      groupId: `${this.settings.clientId}-results-${randomUUID()}`,
      maxWaitTimeInMs: 100,
    });
    const joined = new Promise<void>((resolve) =>
      consumer.on(consumer.events.GROUP_JOIN, () => {
        for (const [partition, offset] of next) consumer.seek({ topic, partition, offset });
        resolve();
      }),
    );
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false }).catch((error: Error) => {
      throw missing(error);
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        next.set(partition, (BigInt(message.offset) + 1n).toString());
        this.onResult(message.value);
      },
    });
    await joined;
    this.consumer = consumer;
  }

  /**
   * Validates and sends a push request; throws InvalidPushRequestError naming what is wrong. A send
   * that fails (Kafka unreachable, a broker restarting) may have been written all the same. Sending the
   * same request again never pushes twice: if the first was written, the second goes to the dead-letter
   * topic as `duplicate_challenge_id`.
   */
  async requestChallenge(request: PushRequestedEvent): Promise<void> {
    const checked = this.validator.check(request);
    if (!checked.ok) throw new InvalidPushRequestError(`invalid push request: ${checked.reason}`);
    await this.producer.send({
      topic: this.topics.pushRequested,
      messages: [{ key: request.challenge_id, value: JSON.stringify(request) }],
    });
    if (!this.consumer) return; // no result listener: nothing to keep results for
    this.forgetExpired();
    // The dispatcher refuses a longer life, and a far one would hold back the pruning of every later one.
    const expiresAt = Math.min(Date.parse(request.expires_at), Date.now() + MAX_CHALLENGE_TTL_MS);
    this.requested.set(request.challenge_id, { tenant: request.tenant ?? DEFAULT_TENANT, expiresAt });
  }

  /**
   * The challenge's result, or PushResultTimeoutError. Needs connect({ awaitResults: true }). A
   * timeout does not mean the push will not go out: while a provider fails, the dispatcher retries
   * until the challenge expires, and its result comes then (await again, or give up on the challenge).
   */
  async awaitResult(challengeId: string, timeoutMs = 30_000): Promise<PushResultEvent> {
    if (!this.consumer) throw new Error('call connect({ awaitResults: true }) before awaiting results');
    const own = this.requested.get(challengeId);
    const recent = this.recent.get(challengeId);
    // Seen before this client asked: only this challenge's if it is of the tenant it asked for.
    const known = own?.result ?? (recent && (!own || recent.tenant === own.tenant) ? recent : undefined);
    if (known) return known;
    return new Promise((resolve, reject) => {
      const waiters = this.waiting.get(challengeId) ?? new Set();
      this.waiting.set(challengeId, waiters);
      const waiter = (result: PushResultEvent) => {
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        if (waiters.size === 0) this.waiting.delete(challengeId);
        reject(new PushResultTimeoutError(`no result for challenge ${challengeId} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.producer.disconnect(), this.consumer?.disconnect()]);
  }

  private onResult(value: Buffer | null): void {
    let result: PushResultEvent;
    try {
      result = JSON.parse(value?.toString() ?? '') as PushResultEvent;
    } catch {
      return; // not a result: nothing to wait for
    }
    const id = result.challenge_id;
    const own = this.requested.get(id);
    // Another tenant's request that reused this id (the dispatcher remembers ids, not tenants): its
    // result is not this challenge's.
    if (own && result.tenant !== own.tenant) return;
    this.recent.set(id, result);
    if (this.recent.size > RECENT_RESULTS) this.recent.delete(this.recent.keys().next().value as string);
    const waiters = this.waiting.get(id);
    this.waiting.delete(id);
    waiters?.forEach((waiter) => waiter(result));
    // An own result nobody awaited yet is kept until its challenge expires; once awaited, recent will do.
    if (own && !waiters) own.result = result;
    else this.requested.delete(id);
  }

  /** Challenges requested long enough ago to have expired, with a minute for their result to arrive. */
  private forgetExpired(): void {
    const before = Date.now() - 60_000;
    for (const [id, { expiresAt }] of this.requested) {
      // Oldest first: one with a long life holds the later ones back, for at most MAX_CHALLENGE_TTL_MS.
      if (expiresAt >= before) break;
      this.requested.delete(id);
    }
  }
}
