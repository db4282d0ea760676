import { randomUUID } from 'node:crypto';
import { AppConfig, loadAppConfig } from '@lib/config';

/**
 * The configuration e2e tests run with: the real servers from the environment (the infra scripts'
 * defaults otherwise), and a unique database and topic prefix per test file so files can run in parallel.
 */
export function testAppConfig(overrides: Record<string, string | undefined> = {}): AppConfig {
  const runId = randomUUID().slice(0, 8);
  const baseUri = process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/push_mfa';
  return loadAppConfig({
    ...process.env,
    NODE_ENV: 'test',
    MONGODB_URI: withDatabase(baseUri, `push_mfa_test_${runId}`),
    KAFKA_TOPIC_PREFIX: `test-${runId}.`,
    AUTH_MODE: 'dev',
    ...overrides,
  });
}

function withDatabase(uri: string, database: string): string {
  const url = new URL(uri);
  url.pathname = `/${database}`;
  return url.toString();
}
