import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { AppConfig } from '@lib/config';
import { ApiErrorFilter } from '../errors/api-error.filter';
import { RESPONSE_ONLY_FIELDS } from '../mfa/dto/mfa-config.response';
import { strictValidationPipe } from './validation';

/** Everything about the HTTP surface that main.ts and the e2e tests must share. */
export function configureHttpApp(app: INestApplication, config: AppConfig): void {
  const server = app.getHttpServer() as Server;
  server.keepAliveTimeout = config.api.keepAliveTimeoutMs;
  // Above the keep-alive timeout, or a request arriving on a connection about to close is cut off.
  server.headersTimeout = config.api.keepAliveTimeoutMs + 1000;
  // The only ETag is a configuration's version (mfa/version-precondition.ts): Express's own, a hash of
  // any body, errors included, would be sent back as If-Match and never match.
  (app.getHttpAdapter().getInstance() as { set: (setting: string, value: unknown) => void }).set(
    'etag',
    false,
  );
  app.useGlobalPipes(strictValidationPipe(RESPONSE_ONLY_FIELDS));
  app.useGlobalFilters(new ApiErrorFilter());
  app.enableCors({
    origin: config.api.corsOrigins.length > 0 ? config.api.corsOrigins : false,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'If-Match'],
    // What an admin page needs to read: its request's id, the version it read, when to retry, why a
    // token was refused.
    exposedHeaders: ['X-Request-Id', 'ETag', 'Retry-After', 'WWW-Authenticate'],
    maxAge: 600,
  });
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('push-mfa config API')
      .setDescription(
        'Push MFA configuration (APNs, FCM) per tenant. Errors: {status, error, error_description, details}.',
      )
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
