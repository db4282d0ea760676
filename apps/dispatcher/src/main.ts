import { NestFactory } from '@nestjs/core';
import { logUnhandledRejections } from '@lib/runtime';
import { DispatcherModule } from './dispatcher.module';

logUnhandledRejections();

async function bootstrap(): Promise<void> {
  const app = await NestFactory.createApplicationContext(DispatcherModule.forRoot());
  app.enableShutdownHooks();
  await app.init();
}

void bootstrap();
