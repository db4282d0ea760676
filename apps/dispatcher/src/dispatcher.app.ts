import type { INestApplicationContext, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AppConfig } from '@lib/config';
import { DispatcherModule } from './dispatcher.module';
import { OperationsServer } from './health/operations.server';

/**
 * Builds and starts the dispatcher. It answers ready only once every part has started: the start-up
 * load makes the configurations ready before the consumers that follow it have joined, and one of
 * those can still fail the start (Kafka gone meanwhile), which a rolling deploy must not take for a
 * replica that is up.
 */
export async function startDispatcherApp(
  config: AppConfig,
  logger: LoggerService | LogLevel[],
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(DispatcherModule.forRoot(config), { logger });
  await app.init();
  app.get(OperationsServer).markStarted();
  return app;
}
