import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { Admin } from 'kafkajs';
import { Gauge } from 'prom-client';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { resolveTopicNames } from '@lib/contracts';
import { createKafkaClient } from '@lib/kafka';
import { within } from '@lib/runtime';
import { DispatcherMetrics } from './dispatcher-metrics';

/**
 * Push requests waiting per partition (log end minus the shared group's committed offset), and the same
 * for parked requests in mfa.push.retrying, read at scrape time.
 */
@Injectable()
export class ConsumerLag implements OnApplicationShutdown {
  private readonly admin: Admin;
  private connected?: Promise<void>;

  constructor(@Inject(APP_CONFIG) config: AppConfig, metrics: DispatcherMetrics) {
    this.admin = createKafkaClient(config.kafka, '-lag').admin();
    const topics = resolveTopicNames(config.kafka);
    const groupId = `${config.kafka.topicPrefix}${config.dispatcher.consumerGroup}`;
    const gauge = (name: string, help: string, read: () => Promise<Map<number, number>>) =>
      new Gauge({
        name,
        help,
        labelNames: ['partition'] as const,
        registers: [metrics.registry],
        async collect() {
          // A broker that does not answer must not stall the whole scrape.
          const lag = await within(read());
          this.reset();
          for (const [partition, value] of lag ?? []) this.set({ partition: String(partition) }, value);
        },
      });
    gauge('mfa_consumer_lag', 'Push requests not yet handled, by partition of mfa.push.requested', () =>
      this.read(groupId, topics.pushRequested),
    );
    gauge(
      'mfa_retrying_lag',
      'Parked copies not yet committed, by partition of mfa.push.retrying: each failed attempt parks a new copy, and copies wait behind the oldest unfinished one',
      () => this.read(`${groupId}-retrying`, topics.pushRetrying),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.connected) await this.admin.disconnect().catch(() => undefined);
  }

  private async read(groupId: string, topic: string): Promise<Map<number, number>> {
    this.connected ??= this.admin.connect().catch((error: Error) => {
      this.connected = undefined;
      throw error;
    });
    await this.connected;
    const [ends, [committed]] = await Promise.all([
      this.admin.fetchTopicOffsets(topic),
      this.admin.fetchOffsets({ groupId, topics: [topic] }),
    ]);
    const lag = new Map<number, number>();
    for (const end of ends) {
      const offset = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
      const start = Number(offset) < 0 ? Number(end.low) : Number(offset);
      lag.set(end.partition, Math.max(0, Number(end.high) - start));
    }
    return lag;
  }
}
