import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Partitioners, Producer } from 'kafkajs';
import { APP_CONFIG, AppConfig } from '@lib/config';
import {
  ConfigAppliedEvent,
  PushDeadLetter,
  PushResultEvent,
  resolveTopicNames,
  TopicNames,
} from '@lib/contracts';
import { createKafkaClient } from '@lib/kafka';

/** Where outcomes leave the dispatcher: results, dead letters and configuration-applied reports. */
@Injectable()
export class ResultPublisher implements OnApplicationShutdown {
  private readonly topics: TopicNames;
  private readonly producer: Producer;
  private connected?: Promise<void>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.topics = resolveTopicNames(config.kafka);
    this.producer = createKafkaClient(config.kafka, '-dispatcher').producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async connect(): Promise<void> {
    this.connected ??= this.producer.connect();
    await this.connected;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
  }

  async publishResult(result: PushResultEvent): Promise<void> {
    await this.send(this.topics.pushResults, result.challenge_id, result);
  }

  async publishDeadLetter(letter: PushDeadLetter): Promise<void> {
    await this.send(this.topics.pushDeadLetter, letter.original_key, letter);
  }

  async publishApplied(event: ConfigAppliedEvent): Promise<void> {
    await this.send(this.topics.configApplied, `${event.tenant}/${event.mfa_type}`, event);
  }

  private async send(topic: string, key: string | null, value: object): Promise<void> {
    await this.connect();
    await this.producer.send({ topic, messages: [{ key, value: JSON.stringify(value) }] });
  }
}
