import { Controller, Get, Inject, OnApplicationShutdown, Res } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Response } from 'express';
import type { Connection } from 'mongoose';
import type { Admin } from 'kafkajs';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { createKafkaClient } from '@lib/kafka';
import { kafkaCheck, mongoCheck, readiness, Readiness } from '@lib/runtime';

@Controller('health')
export class HealthController implements OnApplicationShutdown {
  private readonly admin: Admin;
  private readonly checks: Record<string, () => Promise<unknown>>;

  constructor(@Inject(APP_CONFIG) config: AppConfig, @InjectConnection() connection: Connection) {
    this.admin = createKafkaClient(config.kafka, '-health').admin();
    this.checks = { mongo: mongoCheck(connection), kafka: kafkaCheck(this.admin) };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.admin.disconnect().catch(() => undefined);
  }

  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * 503 while the database is unreachable. Kafka's state is named but does not make it red: writes
   * made while Kafka is down wait in the outbox, and a probe that failed on Kafka would take every
   * replica out of rotation at once, turning a broker outage into an API outage.
   */
  @Get('ready')
  async ready(@Res({ passthrough: true }) response: Response): Promise<Readiness> {
    const result = await readiness(this.checks, ['mongo']);
    response.status(result.ready ? 200 : 503);
    return result;
  }
}
