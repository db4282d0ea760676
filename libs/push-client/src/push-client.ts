import { randomUUID } from 'node:crypto';
import type { Consumer } from 'kafkajs';
import type { KafkaSettings } from '@lib/config';
import {
  EventValidator,
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
export class PushClient {
  private readonly topics: TopicNames;
  private readonly validator = new EventValidator(pushRequestedSchema);
  private readonly producer: RenewingProducer;
  private consumer?: Consumer;
  private readonly waiting = new Map<string, (result: PushResultEvent) => void>();
  private readonly early = new Map<string, PushResultEvent>();

  constructor(private readonly settings: KafkaSettings) {
    this.topics = resolveTopicNames(settings);
    const kafka = createKafkaClient(settings, '-push-client');
    this.producer = new RenewingProducer(() => orderedIdempotentProducer(kafka));
  }

  /** Connects the producer and, with awaitResults, a result listener (joined before this resolves). */
  async connect(options: { awaitResults?: boolean } = {}): Promise<void> {
    await this.producer.connect();
    if (!options.awaitResults) return;
    const kafka = createKafkaClient(this.settings, '-push-client-results');
    // A group of its own: every client instance sees every result and picks out its own.
    const consumer = kafka.consumer({
      groupId: `${this.settings.clientId}-results-${randomUUID()}`,
      maxWaitTimeInMs: 100,
    });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    await consumer
      .subscribe({ topic: this.topics.pushResults, fromBeginning: false })
      .catch((error: Error) => {
        throw new Error(
          `cannot read ${this.topics.pushResults} (${error.message}); the dispatcher creates it when it starts, or create it yourself`,
        );
      });
    await consumer.run({
      eachMessage: async ({ message }) => {
        let result: PushResultEvent;
        try {
          result = JSON.parse(message.value?.toString() ?? '') as PushResultEvent;
        } catch {
          return; // not a result: nothing to wait for
        }
        const resolve = this.waiting.get(result.challenge_id);
        if (resolve) return resolve(result);
        // Results that arrive before awaitResult is called; every client sees every result, so keep only recent ones.
        this.early.set(result.challenge_id, result);
        if (this.early.size > 10_000) this.early.delete(this.early.keys().next().value as string);
      },
    });
    await joined;
    this.consumer = consumer;
  }

  /** Validates and sends a push request; throws InvalidPushRequestError naming what is wrong. */
  async requestChallenge(request: PushRequestedEvent): Promise<void> {
    const checked = this.validator.check(request);
    if (!checked.ok) throw new InvalidPushRequestError(`invalid push request: ${checked.reason}`);
    await this.producer.send({
      topic: this.topics.pushRequested,
      messages: [{ key: request.challenge_id, value: JSON.stringify(request) }],
    });
  }

  /** The challenge's result, or PushResultTimeoutError. Needs connect({ awaitResults: true }). */
  awaitResult(challengeId: string, timeoutMs = 30_000): Promise<PushResultEvent> {
    if (!this.consumer) throw new Error('call connect({ awaitResults: true }) before awaiting results');
    const early = this.early.get(challengeId);
    if (early) {
      this.early.delete(challengeId);
      return Promise.resolve(early);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(challengeId);
        reject(new PushResultTimeoutError(`no result for challenge ${challengeId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(challengeId, (result) => {
        clearTimeout(timer);
        this.waiting.delete(challengeId);
        resolve(result);
      });
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.producer.disconnect(), this.consumer?.disconnect()]);
  }
}
