import { NestFactory } from '@nestjs/core';
import { logUnhandledRejections } from '@lib/runtime';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { AppModule } from './app.module';
import { configureHttpApp } from './http/configure-http-app';

logUnhandledRejections();

async function bootstrap(): Promise<void> {
  // Our own middleware parses bodies, so that every bad body gets the API's error shape.
  const app = await NestFactory.create(AppModule.forRoot(), { bodyParser: false });
  const config = app.get<AppConfig>(APP_CONFIG);
  configureHttpApp(app, config);
  app.enableShutdownHooks();
  await app.listen(config.api.port, '0.0.0.0');
}

void bootstrap();
