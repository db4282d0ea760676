import type { INestApplication, LoggerService, NestApplicationOptions } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { SignJWT } from 'jose';
import request from 'supertest';
import { AppConfig, loadAppConfig } from '@lib/config';
import { AppModule } from '../../apps/config-api/src/app.module';
import { configureHttpApp } from '../../apps/config-api/src/http/configure-http-app';
import { rsaKeyPair } from '../fixtures/keys';
import { testEnvironment, TestEnv } from './test-environment';

export const ISSUER = 'https://auth.test.example/';
export const AUDIENCE = 'https://push-mfa.test.example/api';

export interface ConfigApiHarness {
  app: INestApplication;
  config: AppConfig;
  http: () => ReturnType<typeof request>;
  /** A valid RS256 access token signed by the trusted test issuer. */
  token: (scopes: string[], claims?: Record<string, unknown>) => Promise<string>;
  signingKey: ReturnType<typeof rsaKeyPair>;
  close: () => Promise<void>;
}

/** The config-api's HTTP app as main.ts builds it, for a given configuration; errors logged unless `logger`. */
export async function createConfigApiApp(
  config: AppConfig,
  logger: NestApplicationOptions['logger'] = ['error'],
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger });
  configureHttpApp(app, config);
  await app.init();
  return app;
}

/** The config-api as main.ts builds it, trusting a key pair made for this test run. */
export async function startConfigApi(
  env: TestEnv = testEnvironment(),
  logger?: LoggerService,
): Promise<ConfigApiHarness> {
  const signingKey = rsaKeyPair();
  const config = loadAppConfig({
    ...env,
    AUTH_MODE: 'public-key',
    AUTH_PUBLIC_KEY: signingKey.publicPem,
    AUTH_ISSUER: ISSUER,
    AUTH_AUDIENCE: AUDIENCE,
    AUTH_ALGORITHMS: 'RS256',
  });
  const app = await createConfigApiApp(config, logger);
  const token = (scopes: string[], claims: Record<string, unknown> = {}) =>
    new SignJWT({ scope: scopes.join(' '), ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'test' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('admin@test')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signingKey.privateKey);
  return {
    app,
    config,
    http: () => request(app.getHttpServer()),
    token,
    signingKey,
    close: async () => {
      await app.close();
    },
  };
}
