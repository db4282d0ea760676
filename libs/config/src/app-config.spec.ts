import { loadAppConfig } from './app-config';
import { InvalidEnvironmentError } from './env-reader';

describe('loadAppConfig', () => {
  const dev = { AUTH_MODE: 'dev' };

  it('fills in local defaults', () => {
    const config = loadAppConfig(dev);
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(config.mongodbUri).toBe('mongodb://127.0.0.1:27017/push_mfa');
    expect(config.api.port).toBe(3000);
    expect(config.dispatcher.resyncIntervalMs).toBe(300_000);
  });

  it('names every bad variable and what it expects, at once', () => {
    const load = () => loadAppConfig({ ...dev, PORT: 'eighty', KAFKA_SSL: 'maybe', APNS_ENDPOINT: 'nohost' });
    expect(load).toThrow(InvalidEnvironmentError);
    expect(load).toThrow(/PORT must be a whole number from 0 to 65535 \(got "eighty"\)/);
    expect(load).toThrow(/KAFKA_SSL must be true or false/);
    expect(load).toThrow(/APNS_ENDPOINT must be host:port/);
  });

  it('refuses dev auth, a missing keyring and sandbox endpoints in production', () => {
    const load = () =>
      loadAppConfig({ NODE_ENV: 'production', AUTH_MODE: 'dev', FCM_ENDPOINT: 'https://127.0.0.1:8443' });
    expect(load).toThrow(/AUTH_MODE=dev .* refused when NODE_ENV=production/);
    expect(load).toThrow(/MFA_ENCRYPTION_KEYS is required in production/);
    expect(load).toThrow(/FCM_ENDPOINT .* refused in production/);
  });

  it('requires the verification source of the chosen auth mode', () => {
    expect(() => loadAppConfig({ AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' })).toThrow(
      /AUTH_JWKS_URI is required/,
    );
    expect(() => loadAppConfig({ AUTH_MODE: 'public-key', AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' })).toThrow(
      /AUTH_PUBLIC_KEY/,
    );
  });

  it('reads SASL settings for real clusters', () => {
    const config = loadAppConfig({
      ...dev,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
      KAFKA_SSL: 'true',
    });
    expect(config.kafka).toMatchObject({ ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'u' } });
  });
});
