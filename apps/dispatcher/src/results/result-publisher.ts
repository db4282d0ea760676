import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { Message } from 'kafkajs';
import { APP_CONFIG, AppConfig } from '@lib/config';
import {
  ConfigAppliedEvent,
  PushDeadLetter,
  PushResultEvent,
  resolveTopicNames,
  TopicNames,
} from '@lib/contracts';
import { BatchingSender, createKafkaClient, orderedIdempotentProducer, RenewingProducer } from '@lib/kafka';
import type { ApplyOutcome } from '../config-sync/live-client-registry';
import { parkedHeaders, type ParkedState } from '../challenges/parked-request';
import { REQUEST_POSITION_HEADER } from './published-results.follower';

/** Where outcomes leave the dispatcher: results, dead letters and configuration-applied reports. */
@Injectable()
export class ResultPublisher implements OnApplicationShutdown {
  private readonly topics: TopicNames;
  private readonly producer: RenewingProducer;
  /** Results of concurrent challenges leave together, one produce request per batch. */
  private readonly sender: BatchingSender;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.topics = resolveTopicNames(config.kafka);
    const kafka = createKafkaClient(config.kafka, '-dispatcher');
    this.producer = new RenewingProducer(() => orderedIdempotentProducer(kafka));
    this.sender = new BatchingSender(this.producer);
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.producer.disconnect();
  }

  /** `requestPosition` (topic/partition@offset) travels in a header: replicas tell redeliveries from reused ids. */
  async publishResult(result: PushResultEvent, requestPosition: string): Promise<void> {
    await this.send(this.topics.pushResults, result.challenge_id, result, {
      [REQUEST_POSITION_HEADER]: requestPosition,
    });
  }

  /** Hands a request whose provider failed to mfa.push.retrying, as it came, with how far it got. */
  async publishParked(key: string | null, value: Buffer, state: ParkedState): Promise<void> {
    await this.deliver(this.topics.pushRetrying, { key, value, headers: parkedHeaders(state) });
  }

  /** Tells admins (through the config-api's status) whether their configuration is live, or why not. */
  async reportApplied(tenant: string, outcome: ApplyOutcome): Promise<void> {
    if (outcome.state === 'unchanged') return;
    await this.publishApplied({
      tenant,
      mfa_type: 'push',
      version: outcome.version,
      // A deletion applied is reported as applied: the dispatcher stopped using that configuration.
      status: outcome.state === 'failed' ? 'failed' : 'applied',
      ...(outcome.state === 'failed' && { error: outcome.error }),
      replica: this.config.dispatcher.replicaId,
      at: new Date().toISOString(),
    });
  }

  async publishDeadLetter(letter: PushDeadLetter): Promise<void> {
    await this.send(this.topics.pushDeadLetter, letter.original_key, letter);
  }

  async publishApplied(event: ConfigAppliedEvent): Promise<void> {
    await this.send(this.topics.configApplied, `${event.tenant}/${event.mfa_type}`, event);
  }

  private async send(
    topic: string,
    key: string | null,
    value: object,
    headers?: Record<string, string>,
  ): Promise<void> {
    await this.deliver(topic, { key, value: JSON.stringify(value), headers });
  }

  private async deliver(topic: string, message: Message): Promise<void> {
    await this.connect();
    await this.sender.send(topic, message);
  }
}
