import { createHash, randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import type { KafkaSettings } from '@lib/config';
import {
  DEFAULT_TENANT,
  EventValidator,
  MAX_CHALLENGE_TTL_MS,
  numberMatchingProblem,
  PushRequestedEvent,
  pushRequestedSchema,
  PushResultEvent,
  resolveTopicNames,
  TopicNames,
} from '@lib/contracts';
import {
  BatchingSender,
  createKafkaClient,
  MessageWithdrawnError,
  orderedIdempotentProducer,
  RenewingProducer,
} from '@lib/kafka';

export class InvalidPushRequestError extends Error {}
export class PushResultTimeoutError extends Error {}
/** Kafka did not acknowledge the request in time: it may be written all the same (see requestChallenge). */
export class PushRequestNotAcknowledgedError extends Error {}

export interface PushClientOptions {
  /**
   * How long requestChallenge waits for Kafka to acknowledge a request (default 10 s), and never past
   * the challenge's expires_at: with Kafka away, a sign-in should not hang for its producer's retries.
   */
  sendTimeoutMs?: number;
}

/** Results kept for anyone who awaits them later, whatever challenge they answer (every client sees every result). */
const RECENT_RESULTS = 10_000;
/**
 * How long a result is kept after it came: a challenge lives at most MAX_CHALLENGE_TTL_MS, and its
 * result comes at most about a minute after it expired (a send under way is waited for). An older one
 * answers no challenge that can still be awaited.
 */
const RESULT_KEPT_MS = MAX_CHALLENGE_TTL_MS + 120_000;
/** A request is forgotten this long after its challenge expired: its result may come up to a minute late. */
const FORGOTTEN_AFTER_EXPIRY_MS = 120_000;
/** Requests are forgotten by the minute: the challenge ids of each minute in which some are due. */
const MINUTE_MS = 60_000;
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
  private readonly kafka: Kafka;
  private readonly producer: RenewingProducer;
  private connection?: Promise<void>;
  private closed = false;
  /** The result listener, from its creation (so close() stops it even while it starts). */
  private consumer?: Consumer;
  private listening = false;
  /** Why the result listener stopped for good: every await fails with it from then on. */
  private listenerFailure?: Error;
  private readonly waiting = new Map<string, Set<Waiter>>();
  /** Sends what callers ask for meanwhile together: one produce request, one wait, for many sign-ins. */
  private readonly sender: BatchingSender;
  private readonly sendTimeoutMs: number;
  /**
   * The last results seen, awaited or not, so a late or second awaitResult finds its result for a
   * while: the first of each challenge (a second copy, or a second send's result, does not replace it).
   */
  private readonly recent = new Map<string, { result: PushResultEvent; at: number }>();
  /**
   * The challenges this client requested, until they expire, and their results: kept apart from the
   * recent ones, which a busy system pushes out within seconds. `digest` tells a request sent again
   * from another one reusing its id.
   */
  private readonly requested = new Map<
    string,
    { tenant: string; expiresAt: number; digest: string; result?: PushResultEvent }
  >();
  /** The ids in `requested` by the minute they are due to be forgotten (ids sent again may repeat). */
  private readonly dueByMinute = new Map<number, string[]>();

  constructor(
    private readonly settings: KafkaSettings,
    options: PushClientOptions = {},
  ) {
    this.topics = resolveTopicNames(settings);
    this.kafka = createKafkaClient(settings, '-push-client');
    this.producer = new RenewingProducer(() => orderedIdempotentProducer(this.kafka));
    this.sender = new BatchingSender(this.producer);
    this.sendTimeoutMs = options.sendTimeoutMs ?? 10_000;
    if (!(this.sendTimeoutMs > 0))
      throw new Error(
        `sendTimeoutMs must be a number of milliseconds above 0 (got ${options.sendTimeoutMs})`,
      );
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
    await this.checkRequestTopic();
    closedMeanwhile();
    if (!awaitResults) return;
    await this.listen();
    closedMeanwhile();
    this.listening = true;
  }

  /** A missing topic fails at connect(), not at each request after the producer's retries (tens of seconds). */
  private async checkRequestTopic(): Promise<void> {
    const topic = this.topics.pushRequested;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      // Only the topics this client may describe: one it may not, it may not write either.
      if (!(await admin.listTopics()).includes(topic))
        throw new Error(
          `${topic} does not exist (or this client may not describe it): the dispatcher creates it when it starts, or create it yourself (docs/operations.md)`,
        );
    } finally {
      await admin.disconnect();
    }
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
   * Validates and sends a push request; throws InvalidPushRequestError naming what is wrong, among
   * others an expires_at already past or more than 15 minutes ahead, and, when awaiting results, a
   * challenge_id this client sent before with other content (ids must be unique: the dispatcher pushes
   * an id once). A send that fails (Kafka unreachable, a broker restarting) may have been written all
   * the same; one not acknowledged within sendTimeoutMs fails with PushRequestNotAcknowledgedError,
   * which says whether it was taken back unsent. Sending the same request
   * again never pushes twice: if the first was written, the second goes to the dead-letter topic as
   * `duplicate_challenge_id`.
   */
  async requestChallenge(request: PushRequestedEvent): Promise<void> {
    const checked = this.validator.check(request);
    if (!checked.ok) throw new InvalidPushRequestError(`invalid push request: ${checked.reason}`);
    // Refused here, naming the field, rather than answered with a `rejected` result later.
    const numberMatching = request.strategy === 'code' ? numberMatchingProblem(request) : undefined;
    if (numberMatching)
      throw new InvalidPushRequestError(`invalid push request: ${numberMatching}; nothing was sent`);
    const expiresAt = Date.parse(request.expires_at);
    const left = expiresAt - Date.now();
    if (!(left > 0))
      throw new InvalidPushRequestError(
        `invalid push request: expires_at ${request.expires_at} is past; nothing was sent`,
      );
    if (left > MAX_CHALLENGE_TTL_MS)
      throw new InvalidPushRequestError(
        `invalid push request: expires_at ${request.expires_at} is more than ${MAX_CHALLENGE_TTL_MS / 60_000} minutes ahead, which the dispatcher refuses`,
      );
    // Recorded before sending: the result can come before the send is acknowledged.
    const forget = this.listening ? this.remember(request, expiresAt) : () => undefined;
    const topic = this.topics.pushRequested;
    const timeoutMs = Math.min(this.sendTimeoutMs, left);
    const { sent, withdraw } = this.sender.sendWithdrawable(topic, {
      key: request.challenge_id,
      value: JSON.stringify(request),
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Still waiting behind other sends (Kafka away): taken back, so no expired backlog goes out
        // ahead of new sign-ins once Kafka is back.
        const withdrawn = withdraw();
        if (withdrawn) forget();
        reject(
          new PushRequestNotAcknowledgedError(
            `push request ${request.challenge_id} not acknowledged by Kafka within ${timeoutMs} ms (is it reachable?); ` +
              (withdrawn
                ? 'it was not sent: send it again, or give up on the challenge'
                : 'it may still be written: await its result, or give up on the challenge'),
          ),
        );
      }, timeoutMs);
    });
    const acknowledged = sent.catch((error: Error) => {
      // Taken back when its time was up: the caller gets what `late` says, whichever settles first.
      if (error instanceof MessageWithdrawnError) return late;
      // Producers here never create a topic (it would get the broker's default partitions).
      if (kafkaErrorTypes(error).includes('UNKNOWN_TOPIC_OR_PARTITION')) {
        forget();
        throw new Error(
          `${topic} does not exist: the dispatcher creates it when it starts, or create it yourself (docs/operations.md); nothing was sent`,
          { cause: error },
        );
      }
      throw error;
    });
    try {
      await Promise.race([acknowledged, late]);
    } finally {
      clearTimeout(timer);
      acknowledged.catch(() => undefined);
    }
  }

  /**
   * Keeps the request until two minutes after it expires (a listening client only: the results it
   * awaits). Returns how to forget it again when nothing was sent, so the id can be used for another
   * request.
   */
  private remember(request: PushRequestedEvent, expiresAt: number): () => void {
    this.forgetExpired();
    const tenant = request.tenant ?? DEFAULT_TENANT;
    const digest = digestOf(request);
    const earlier = this.requested.get(request.challenge_id);
    // The dispatcher would put it on the dead-letter topic with no result: the caller would wait in vain,
    // or take the earlier request's result for this one's.
    if (earlier && earlier.digest !== digest)
      throw new InvalidPushRequestError(
        `invalid push request: challenge_id ${request.challenge_id} was requested before with other content (tenant, device, code, expires_at…): to send it again, send the very same request (keep its expires_at); for another challenge, use a new id`,
      );
    // Sent again: its result, if it came already, stays (the dispatcher pushes a challenge once).
    this.requested.delete(request.challenge_id);
    const entry = { tenant, expiresAt, digest, result: earlier?.result };
    this.requested.set(request.challenge_id, entry);
    this.dueToBeForgotten(request.challenge_id, expiresAt);
    return () => {
      if (!earlier && !entry.result && this.requested.get(request.challenge_id) === entry)
        this.requested.delete(request.challenge_id);
    };
  }

  /**
   * The challenge's result, or PushResultTimeoutError. Needs connect({ awaitResults: true }). A
   * timeout does not mean the push will not go out: while a provider fails, the dispatcher retries
   * until the challenge expires, and its result comes then (await again, or give up on the challenge).
   */
  async awaitResult(challengeId: string, timeoutMs = 30_000): Promise<PushResultEvent> {
    if (this.listenerFailure) throw this.listenerFailure;
    if (!this.listening) throw new Error('call connect({ awaitResults: true }) before awaiting results');
    if (!(timeoutMs >= 0))
      throw new Error(`timeoutMs must be a number of milliseconds, 0 or more (got ${timeoutMs})`);
    const own = this.requested.get(challengeId);
    const recent = this.recentResult(challengeId);
    // Seen before this client asked: only this challenge's if it is of the tenant it asked for.
    const known = own?.result ?? (recent && (!own || recent.tenant === own.tenant) ? recent : undefined);
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
              `no result for challenge ${challengeId} within ${timeoutMs} ms. A request reusing a challenge id, or ` +
                `one without a readable challenge_id, gets none: look for it on ${this.topics.pushDeadLetter}.`,
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
    // A second result of one challenge (a copy, or a push sent again after a rebalance): the first
    // stands, as every caller was already given it.
    if (own?.result || this.recentResult(id)?.tenant === result.tenant) return;
    this.recent.delete(id);
    this.recent.set(id, { result, at: Date.now() });
    if (this.recent.size > RECENT_RESULTS) this.recent.delete(this.recent.keys().next().value as string);
    // An own result is kept until its challenge is forgotten: the recent ones are pushed out within
    // seconds on a busy system, and a second copy arriving then must not replace what awaits got.
    if (own) own.result = result;
    for (const waiter of [...(this.waiting.get(id) ?? [])]) waiter.resolve(result);
  }

  /** The first result of the challenge seen in the last RESULT_KEPT_MS, if any. */
  private recentResult(challengeId: string): PushResultEvent | undefined {
    const recent = this.recent.get(challengeId);
    return recent && recent.at >= Date.now() - RESULT_KEPT_MS ? recent.result : undefined;
  }

  /**
   * Challenges requested long enough ago to have expired, with two minutes for their result to arrive
   * (a send still under way at the expiry is waited for, up to about a minute). By the minute they are
   * due: in order of request, one with a long life would hold back the later ones with short lives,
   * and a walk of all of them would take a busy caller's event loop for a tenth of a second.
   */
  private forgetExpired(now = Date.now()): void {
    const thisMinute = Math.floor(now / MINUTE_MS);
    for (const [minute, ids] of this.dueByMinute) {
      if (minute >= thisMinute) continue;
      for (const id of ids) {
        const entry = this.requested.get(id);
        if (entry && entry.expiresAt + FORGOTTEN_AFTER_EXPIRY_MS < now) this.requested.delete(id);
      }
      this.dueByMinute.delete(minute);
    }
  }

  private dueToBeForgotten(id: string, expiresAt: number): void {
    const minute = Math.floor((expiresAt + FORGOTTEN_AFTER_EXPIRY_MS) / MINUTE_MS) + 1;
    const ids = this.dueByMinute.get(minute);
    if (ids) ids.push(id);
    else this.dueByMinute.set(minute, [id]);
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

/** The same for the same request, however its object's keys are ordered. */
function digestOf(request: PushRequestedEvent): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value && typeof value === 'object'
        ? Object.fromEntries(
            Object.keys(value)
              .sort()
              .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
          )
        : value;
  return createHash('sha256')
    .update(JSON.stringify(canonical(request)))
    .digest('base64url')
    .slice(0, 22);
}
