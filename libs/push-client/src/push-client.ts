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

/** Results kept for anyone who awaits them later, whatever challenge they answer (every client sees every result). */
const RECENT_RESULTS = 10_000;
/** setTimeout's longest wait: a longer one fires at once. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

interface Waiter {
  resolve: (result: PushResultEvent) => void;
  reject: (error: Error) => void;
}

/**
 * What an internal Node service uses to ask for an MFA push: validates the request against the
 * schema the dispatcher enforces, produces it keyed by challenge id, and can await its result.
 */
export class PushClient {
  private readonly topics: TopicNames;
  private readonly validator = new EventValidator(pushRequestedSchema);
  private readonly producer: RenewingProducer;
  private connection?: Promise<void>;
  private closed = false;
  /** The result listener, from its creation (so close() stops it even while it starts). */
  private consumer?: Consumer;
  private listening = false;
  /** Why the result listener stopped for good: every await fails with it from then on. */
  private listenerFailure?: Error;
  private readonly waiting = new Map<string, Set<Waiter>>();
  /** The last results seen, awaited or not, so a late or second awaitResult finds its result for a while. */
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
   * its reading position, so no result published after that is missed. Call it once per client (again
   * only after it failed).
   */
  connect(options: { awaitResults?: boolean } = {}): Promise<void> {
    if (this.closed) return Promise.reject(new Error('this push client is closed: create a new one'));
    if (this.connection)
      return Promise.reject(new Error('connect() was called already: call it once per client'));
    this.listenerFailure = undefined;
    this.connection = this.open(options.awaitResults === true).catch(async (error: Error) => {
      await this.consumer?.disconnect().catch(() => undefined);
      this.consumer = undefined;
      this.connection = undefined;
      throw error;
    });
    return this.connection;
  }

  private async open(awaitResults: boolean): Promise<void> {
    const closedMeanwhile = () => {
      if (this.closed) throw new Error('this push client was closed while it connected');
    };
    await this.producer.connect();
    closedMeanwhile();
    if (!awaitResults) return;
    await this.listen();
    closedMeanwhile();
    this.listening = true;
  }

  private async listen(): Promise<void> {
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
    // kafkajs restart would otherwise start again from the latest result, and skip some. A partition
    // not known here was added since: all of it is newer than connect(), so it is read from its start.
    const next = new Map(ends.map(({ partition, high }) => [partition, high]));
    if (this.closed) throw new Error('this push client was closed while it connected');
    const groupId = `${this.settings.topicPrefix}${this.settings.clientId}-results-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    this.consumer = consumer;
    let hasJoined = false;
    const joined = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, () => {
        for (const [partition, offset] of next) consumer.seek({ topic, partition, offset });
        hasJoined = true;
        resolve();
      });
      // kafkajs restarts the consumer after most failures; after the others (an authorization refused,
      // say) it stops for good, and no result would ever come.
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (payload.restart) return;
        const failure = new Error(
          `the result listener stopped: ${payload.error.message}. It reads ${topic} in its own consumer group ` +
            `(${groupId}): the client needs Read on that topic and on the groups named ` +
            `${this.settings.topicPrefix}${this.settings.clientId}-results-*. Create a new client once fixed.`,
        );
        // Before the join, connect() fails with it; after, every await does.
        if (hasJoined) this.stopListening(failure);
        else reject(failure);
      });
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true }).catch((error: Error) => {
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
    const expiresAt = Date.parse(request.expires_at);
    if (Number.isNaN(expiresAt))
      throw new InvalidPushRequestError(
        `invalid push request: expires_at ${request.expires_at} is not a time`,
      );
    // Recorded before sending: the result can come before the send is acknowledged.
    if (this.listening) this.remember(request, expiresAt);
    const topic = this.topics.pushRequested;
    await this.producer
      .send({ topic, messages: [{ key: request.challenge_id, value: JSON.stringify(request) }] })
      .catch((error: Error) => {
        // Producers here never create a topic (it would get the broker's default partitions).
        if (kafkaErrorTypes(error).includes('UNKNOWN_TOPIC_OR_PARTITION'))
          throw new Error(
            `${topic} does not exist: the dispatcher creates it when it starts, or create it yourself (docs/operations.md); nothing was sent`,
            { cause: error },
          );
        throw error;
      });
  }

  private remember(request: PushRequestedEvent, expiresAt: number): void {
    this.forgetExpired();
    const tenant = request.tenant ?? DEFAULT_TENANT;
    const earlier = this.requested.get(request.challenge_id);
    // Sent again: its result, if it came already, stays (the dispatcher pushes a challenge once).
    const result = earlier?.tenant === tenant ? earlier.result : undefined;
    // Moved to the end: the map stays in order of request, which forgetExpired relies on.
    this.requested.delete(request.challenge_id);
    // The dispatcher refuses a longer life, and a far one would hold back the pruning of every later one.
    this.requested.set(request.challenge_id, {
      tenant,
      expiresAt: Math.min(expiresAt, Date.now() + MAX_CHALLENGE_TTL_MS),
      result,
    });
  }

  /**
   * The challenge's result, or PushResultTimeoutError. Needs connect({ awaitResults: true }). A
   * timeout does not mean the push will not go out: while a provider fails, the dispatcher retries
   * until the challenge expires, and its result comes then (await again, or give up on the challenge).
   */
  async awaitResult(challengeId: string, timeoutMs = 30_000): Promise<PushResultEvent> {
    if (this.listenerFailure) throw this.listenerFailure;
    if (!this.listening) throw new Error('call connect({ awaitResults: true }) before awaiting results');
    const own = this.requested.get(challengeId);
    const recent = this.recent.get(challengeId);
    // Seen before this client asked: only this challenge's if it is of the tenant it asked for.
    const known = own?.result ?? (recent && (!own || recent.tenant === own.tenant) ? recent : undefined);
    // Once awaited, the recent results will do (as for a result handed to a waiter).
    if (own?.result) this.requested.delete(challengeId);
    if (known) return known;
    return new Promise((resolve, reject) => {
      const waiters = this.waiting.get(challengeId) ?? new Set();
      this.waiting.set(challengeId, waiters);
      const settle = () => {
        clearTimeout(timer);
        waiters.delete(waiter);
        if (waiters.size === 0 && this.waiting.get(challengeId) === waiters) this.waiting.delete(challengeId);
      };
      const waiter: Waiter = {
        resolve: (result) => {
          settle();
          resolve(result);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.reject(
            new PushResultTimeoutError(
              `no result for challenge ${challengeId} within ${timeoutMs} ms. A request refused as invalid or as a ` +
                `reused challenge id gets none: look for it on ${this.topics.pushDeadLetter}.`,
            ),
          ),
        Math.min(Math.max(timeoutMs, 0), LONGEST_TIMER_MS),
      );
      waiters.add(waiter);
    });
  }

  /** Disconnects; results still awaited fail at once. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopListening(new Error('the push client was closed'));
    await Promise.allSettled([this.producer.disconnect(), this.consumer?.disconnect()]);
  }

  private stopListening(failure: Error): void {
    this.listening = false;
    this.listenerFailure ??= failure;
    const waiters = [...this.waiting.values()].flatMap((set) => [...set]);
    this.waiting.clear();
    for (const waiter of waiters) waiter.reject(this.listenerFailure);
  }

  private onResult(value: Buffer | null): void {
    let result: PushResultEvent;
    try {
      result = JSON.parse(value?.toString() ?? '') as PushResultEvent;
    } catch {
      return; // not a result: nothing to wait for
    }
    const id: unknown = result?.challenge_id;
    if (typeof id !== 'string') return;
    const own = this.requested.get(id);
    // Another tenant's request that reused this id (the dispatcher remembers ids, not tenants): its
    // result is not this challenge's.
    if (own && result.tenant !== own.tenant) return;
    this.recent.set(id, result);
    if (this.recent.size > RECENT_RESULTS) this.recent.delete(this.recent.keys().next().value as string);
    const waiters = [...(this.waiting.get(id) ?? [])];
    for (const waiter of waiters) waiter.resolve(result);
    // An own result nobody awaited yet is kept until its challenge expires; once awaited, recent will do
    // (keeping every result that long would hold minutes of a busy system's results).
    if (own && waiters.length === 0) own.result = result;
    else this.requested.delete(id);
  }

  /**
   * Challenges requested long enough ago to have expired, with two minutes for their result to arrive
   * (a send still under way at the expiry is waited for, up to about a minute).
   */
  private forgetExpired(): void {
    const before = Date.now() - 120_000;
    for (const [id, { expiresAt }] of this.requested) {
      // Oldest first: one with a long life holds the later ones back, for at most MAX_CHALLENGE_TTL_MS.
      if (expiresAt >= before) break;
      this.requested.delete(id);
    }
  }
}

/** The kafkajs error types of an error and its causes (retries exhausted wrap the last failure). */
function kafkaErrorTypes(error: unknown): string[] {
  const types: string[] = [];
  let at = error as { type?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; at && depth < 8; depth++, at = at.cause as typeof at)
    if (typeof at.type === 'string') types.push(at.type);
  return types;
}
