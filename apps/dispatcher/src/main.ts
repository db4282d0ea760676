import { NestFactory } from '@nestjs/core';
import { DispatcherModule } from './dispatcher.module';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.createApplicationContext(DispatcherModule.forRoot());
  app.enableShutdownHooks();
  await app.init();
}

void bootstrap();
