import { NestFactory } from '@nestjs/core';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  const config = app.get<AppConfig>(APP_CONFIG);
  app.enableShutdownHooks();
  await app.listen(config.api.port, '0.0.0.0');
}

void bootstrap();
