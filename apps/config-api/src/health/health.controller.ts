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
   * 503 while the database or Kafka is unreachable, naming which. Writes made while Kafka is down are
   * kept by the outbox, so a client that still reaches this replica loses nothing.
   */
  @Get('ready')
  async ready(@Res({ passthrough: true }) response: Response): Promise<Readiness> {
    const result = await readiness(this.checks);
    response.status(result.ready ? 200 : 503);
    return result;
  }
}
