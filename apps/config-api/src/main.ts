import { NestFactory } from '@nestjs/core';
import { loadAppConfigFromEnvironment } from '@lib/config';
import { keyringProblems } from '@lib/crypto';
import { JsonLogger, runApp } from '@lib/runtime';
import { AppModule } from './app.module';
import { configureHttpApp } from './http/configure-http-app';

runApp(
  () => loadAppConfigFromEnvironment('config-api', [keyringProblems]),
  async (config) => {
    // Our own guard parses bodies (http/json-body.guard.ts), after the token check, so that every bad
    // body gets the API's error shape.
    const app = await NestFactory.create(AppModule.forRoot(config), {
      bodyParser: false,
      logger: new JsonLogger(config.logLevel, 'config-api'),
    });
    configureHttpApp(app, config);
    await app.listen(config.api.port, '0.0.0.0');
    return app;
  },
);
