import { NestFactory } from '@nestjs/core';
import { loadAppConfigFromEnvironment } from '@lib/config';
import { JsonLogger, runApp } from '@lib/runtime';
import { DispatcherModule } from './dispatcher.module';

runApp(
  () => loadAppConfigFromEnvironment('dispatcher'),
  async (config) => {
    const app = await NestFactory.createApplicationContext(DispatcherModule.forRoot(config), {
      logger: new JsonLogger(config.logLevel, 'dispatcher'),
    });
    await app.init();
    return app;
  },
);
