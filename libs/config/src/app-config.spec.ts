import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa } from '../../../test/peers/test-ca';
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

  it('refuses dev auth, a missing keyring, sandbox endpoints and a sandbox CA in production', () => {
    const load = () =>
      loadAppConfig({
        NODE_ENV: 'production',
        AUTH_MODE: 'dev',
        FCM_ENDPOINT: 'https://127.0.0.1:8443',
        PUSH_SANDBOX_CA_FILE: '.local/sandbox/ca.pem',
      });
    expect(load).toThrow(/AUTH_MODE=dev .* refused when NODE_ENV=production/);
    expect(load).toThrow(/MFA_ENCRYPTION_KEYS is required in production/);
    expect(load).toThrow(/FCM_ENDPOINT .* refused in production/);
    expect(load).toThrow(/PUSH_SANDBOX_CA_FILE .* refused in production/);
  });

  it('asks the identity provider settings of the config-api only: the dispatcher never checks a token', () => {
    const production = {
      NODE_ENV: 'production',
      MFA_ENCRYPTION_KEYS: `k:${Buffer.alloc(32).toString('base64')}`,
      AUTH_ALGORITHMS: 'HS256',
    };
    expect(() => loadAppConfig(production, 'config-api')).toThrow(/AUTH_JWKS_URI is required/);
    expect(() => loadAppConfig(production, 'config-api')).toThrow(/AUTH_ISSUER is required/);
    expect(() => loadAppConfig(production, 'dispatcher')).not.toThrow();
    // Still refused for both: a dev keyring in production.
    expect(() => loadAppConfig({ ...production, AUTH_MODE: 'dev' }, 'dispatcher')).toThrow(/AUTH_MODE=dev/);
  });

  it('requires the verification source of the chosen auth mode', () => {
    expect(() => loadAppConfig({ AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' })).toThrow(
      /AUTH_JWKS_URI is required/,
    );
    expect(() => loadAppConfig({ AUTH_MODE: 'public-key', AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' })).toThrow(
      /AUTH_PUBLIC_KEY/,
    );
  });

  it('names the topics from a prefix, partitions config topics 3 ways, and creates topics by default', () => {
    const { kafka } = loadAppConfig(dev);
    expect(kafka).toMatchObject({
      topicPrefix: '',
      topicNameOverrides: {},
      createTopics: true,
      pushRequestPartitions: 6,
      configTopicPartitions: 3,
    });
  });

  it("reads a full name for each topic and the config topics' partitions", () => {
    const { kafka } = loadAppConfig({
      ...dev,
      KAFKA_TOPIC_PREFIX: 'staging.',
      KAFKA_TOPIC_CONFIG_CHANGED: 'iam.mfa-config-changed',
      KAFKA_TOPIC_CONFIG_APPLIED: 'iam.mfa-config-applied',
      KAFKA_TOPIC_PUSH_REQUESTED: 'iam.mfa-push-requested',
      KAFKA_TOPIC_PUSH_RESULTS: 'iam.mfa-push-results',
      KAFKA_TOPIC_PUSH_DEAD_LETTER: 'iam.mfa-push-dead-letters',
      KAFKA_TOPIC_PUSH_RETRYING: 'iam.mfa-push-retrying',
      KAFKA_CONFIG_PARTITIONS: '1',
    });
    expect(kafka.topicNameOverrides).toEqual({
      configChanged: 'iam.mfa-config-changed',
      configApplied: 'iam.mfa-config-applied',
      pushRequested: 'iam.mfa-push-requested',
      pushResults: 'iam.mfa-push-results',
      pushDeadLetter: 'iam.mfa-push-dead-letters',
      pushRetrying: 'iam.mfa-push-retrying',
    });
    expect(kafka.configTopicPartitions).toBe(1);
  });

  it('refuses topic names Kafka would refuse, topics sharing a name and bad partition counts, naming each variable', () => {
    const load = () =>
      loadAppConfig({
        ...dev,
        KAFKA_TOPIC_PREFIX: 'my env/',
        KAFKA_TOPIC_PUSH_REQUESTED: 'push requests',
        KAFKA_TOPIC_PUSH_RESULTS: 'mfa.results',
        KAFKA_TOPIC_PUSH_DEAD_LETTER: 'mfa.results',
        KAFKA_CONFIG_PARTITIONS: '0',
      });
    expect(load).toThrow(InvalidEnvironmentError);
    expect(load).toThrow(
      /KAFKA_TOPIC_PREFIX may contain only letters, digits, "\.", "_" and "-" \(got "my env\/"\)/,
    );
    expect(load).toThrow(/KAFKA_TOPIC_PUSH_REQUESTED may contain only letters, digits/);
    expect(load).toThrow(
      /KAFKA_TOPIC_PUSH_RESULTS \("mfa.results"\), KAFKA_TOPIC_PUSH_DEAD_LETTER \("mfa.results"\) name the same topic: give each topic its own name/,
    );
    expect(load).toThrow(/KAFKA_CONFIG_PARTITIONS must be a whole number from 1 to 1000 \(got "0"\)/);
  });

  it('refuses a JWKS address that is not a URL, or plain HTTP in production', () => {
    const jwks =
      (uri: string, nodeEnv = 'development') =>
      () =>
        loadAppConfig({
          NODE_ENV: nodeEnv,
          AUTH_JWKS_URI: uri,
          AUTH_ISSUER: 'i',
          AUTH_AUDIENCE: 'a',
          MFA_ENCRYPTION_KEYS: `k:${Buffer.alloc(32).toString('base64')}`,
        });
    expect(jwks('idp.example.com/jwks.json')).toThrow(/AUTH_JWKS_URI must be a URL/);
    expect(jwks('ftp://idp.example.com/jwks.json')).toThrow(/AUTH_JWKS_URI must be an https:\/\/ URL/);
    expect(jwks('http://idp.example.com/jwks.json', 'production')).toThrow(
      /AUTH_JWKS_URI must be https:\/\/ in production/,
    );
    expect(jwks('https://idp.example.com/jwks.json', 'production')).not.toThrow();
    // A local identity provider in development or tests.
    expect(jwks('http://127.0.0.1:4000/jwks.json')).not.toThrow();
  });

  it('refuses a default tenant that is not a tenant id, and an empty list of scope claims', () => {
    const load = (env: Record<string, string>) => () => loadAppConfig({ ...dev, ...env });
    expect(load({ AUTH_DEFAULT_TENANT: 'a b' })).toThrow(/AUTH_DEFAULT_TENANT must be a tenant id/);
    expect(load({ AUTH_SCOPE_CLAIMS: ' , ' })).toThrow(/AUTH_SCOPE_CLAIMS must name at least one claim/);
    expect(loadAppConfig(dev).auth).toMatchObject({ scopeClaims: ['scope'], defaultTenant: undefined });
  });

  it('refuses a JWKS cooldown under a second, which would let made-up key ids flood the identity provider', () => {
    const cooldown = (ms: string) => () => loadAppConfig({ ...dev, AUTH_JWKS_COOLDOWN_MS: ms });
    expect(cooldown('0')).toThrow(
      /AUTH_JWKS_COOLDOWN_MS must be a whole number from 1000 to 3600000 \(got "0"\)/,
    );
    expect(cooldown('1000')).not.toThrow();
  });

  it('refuses token algorithms that are not public-key signatures, or are misspelled', () => {
    const load = (algorithms: string) => () => loadAppConfig({ ...dev, AUTH_ALGORITHMS: algorithms });
    expect(load('rs256')).toThrow(/AUTH_ALGORITHMS must name .* \(got rs256\)/);
    expect(load('RS256,HS256,none')).toThrow(/\(got HS256, none\)/);
    expect(loadAppConfig({ ...dev, AUTH_ALGORITHMS: 'PS256,EdDSA' }).auth.algorithms).toEqual([
      'PS256',
      'EdDSA',
    ]);
  });

  it('refuses SASL PLAIN without TLS in production, where it would send the password in clear', () => {
    const production = {
      NODE_ENV: 'production',
      AUTH_JWKS_URI: 'https://idp.example.com/jwks.json',
      AUTH_ISSUER: 'i',
      AUTH_AUDIENCE: 'a',
      MFA_ENCRYPTION_KEYS: `k:${Buffer.alloc(32).toString('base64')}`,
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
    };
    expect(() => loadAppConfig({ ...production, KAFKA_SASL_MECHANISM: 'plain' })).toThrow(
      /KAFKA_SASL_MECHANISM=plain without KAFKA_SSL=true .* refused in production/,
    );
    expect(() =>
      loadAppConfig({ ...production, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SSL: 'true' }),
    ).not.toThrow();
    expect(() => loadAppConfig({ ...production, KAFKA_SASL_MECHANISM: 'scram-sha-512' })).not.toThrow();
  });

  it('reads AUTH_PUBLIC_KEY at start-up: unreadable, a private key, or no algorithm of AUTH_ALGORITHMS for its type, each named', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const withKey =
      (pem: string, algorithms = 'RS256,ES256') =>
      () =>
        loadAppConfig({
          AUTH_MODE: 'public-key',
          AUTH_ISSUER: 'i',
          AUTH_AUDIENCE: 'a',
          MFA_ENCRYPTION_KEYS: `k:${Buffer.alloc(32).toString('base64')}`,
          AUTH_PUBLIC_KEY: pem,
          AUTH_ALGORITHMS: algorithms,
        });
    expect(withKey(publicPem)).not.toThrow();
    expect(withKey(publicPem.replace(/\n/g, '\\n'))).not.toThrow();
    expect(withKey('not a key')).toThrow(/AUTH_PUBLIC_KEY must be a PEM public key/);
    expect(withKey(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toThrow(
      /AUTH_PUBLIC_KEY holds a private key/,
    );
    expect(withKey(publicPem, 'RS256,PS256')).toThrow(
      /AUTH_ALGORITHMS \(RS256,PS256\) has no algorithm that verifies with AUTH_PUBLIC_KEY, an ec key/,
    );
    expect(withKey(publicPem, ',')).toThrow(/AUTH_ALGORITHMS must name signature algorithms .* \(got none\)/);
  });

  it('refuses timers Node cannot keep (over 2^31 - 1 ms it fires them at once), Kafka brokers that are not host:port and a MongoDB URI that is not one, without quoting it', () => {
    const load = () =>
      loadAppConfig({
        ...dev,
        CONFIG_RESYNC_INTERVAL_MS: '2147483648',
        PUSH_IDLE_SESSION_TIMEOUT_MS: '9999999999',
        KAFKA_BROKERS: 'kafka-1:9092,kafka-2',
        MONGODB_URI: 'localhost:27017?password=hunter2',
      });
    expect(load).toThrow(/CONFIG_RESYNC_INTERVAL_MS must be a whole number from 1000 to 2147483647/);
    expect(load).toThrow(/PUSH_IDLE_SESSION_TIMEOUT_MS must be a whole number from 1000 to 2147483647/);
    expect(load).toThrow(/KAFKA_BROKERS must be comma-separated host:port.*\(got "kafka-2";/);
    expect(load).toThrow(/MONGODB_URI must be a MongoDB connection string/);
    expect(load).not.toThrow(/hunter2/);
    expect(
      loadAppConfig({ ...dev, MONGODB_URI: 'mongodb+srv://u:p@cluster0.example.net/db' }).mongodbUri,
    ).toBe('mongodb+srv://u:p@cluster0.example.net/db');
  });

  it('checks the sandbox CA file at start-up, as the Kafka ones, rather than at the first push', () => {
    expect(() => loadAppConfig({ ...dev, PUSH_SANDBOX_CA_FILE: '/nonexistent/ca.pem' })).toThrow(
      /PUSH_SANDBOX_CA_FILE names a file that cannot be read \(ENOENT\)/,
    );
    const { caFile, caPem } = createTestCa();
    expect(loadAppConfig({ ...dev, PUSH_SANDBOX_CA_FILE: caFile }).sandbox.caPem).toBe(caPem);
  });

  it('reads SASL settings for real clusters, the mechanism in Kafka’s capitals or kafkajs’s lower case', () => {
    expect(
      loadAppConfig({
        ...dev,
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
      }).kafka.sasl?.mechanism,
    ).toBe('scram-sha-512');
    const config = loadAppConfig({
      ...dev,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
      KAFKA_SSL: 'true',
    });
    expect(config.kafka).toMatchObject({ ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'u' } });
  });

  describe('KAFKA_SSL_*_FILE: brokers signed by a CA of their own, a client certificate for mutual TLS', () => {
    const secured = { ...dev, KAFKA_SSL: 'true' };
    /** A file of the given text in a directory of its own. */
    const fileOf = (text: string) => {
      const path = join(mkdtempSync(join(tmpdir(), 'kafka-tls-')), 'file.pem');
      writeFileSync(path, text);
      return path;
    };

    it('reads the certificates at start-up', () => {
      const { caFile, caPem } = createTestCa();
      const config = loadAppConfig({ ...secured, KAFKA_SSL_CA_FILE: caFile });
      expect(config.kafka.tls).toEqual({ ca: caPem });
    });

    it('fails start-up naming the variable when the file cannot be read or holds no certificate', () => {
      const notPem = fileOf('not a certificate');
      expect(() => loadAppConfig({ ...secured, KAFKA_SSL_CA_FILE: '/nowhere/ca.pem' })).toThrow(
        'KAFKA_SSL_CA_FILE names a file that cannot be read (ENOENT): /nowhere/ca.pem',
      );
      expect(() => loadAppConfig({ ...secured, KAFKA_SSL_CA_FILE: notPem })).toThrow(
        `KAFKA_SSL_CA_FILE must name a file holding PEM certificates (-----BEGIN CERTIFICATE-----): ${notPem}`,
      );
    });

    it('is refused without KAFKA_SSL, which it would otherwise silently not apply to', () => {
      const { caFile } = createTestCa();
      expect(() => loadAppConfig({ ...dev, KAFKA_SSL_CA_FILE: caFile })).toThrow(
        'KAFKA_SSL_CA_FILE is set but KAFKA_SSL is not true: set KAFKA_SSL=true to reach the brokers over TLS',
      );
    });

    it('reads a client certificate and its key, and checks that they belong together', () => {
      const { certPem, keyPem } = createTestCa();
      const config = loadAppConfig({
        ...secured,
        KAFKA_SSL_CERT_FILE: fileOf(certPem),
        KAFKA_SSL_KEY_FILE: fileOf(keyPem),
      });
      expect(config.kafka.tls).toEqual({ cert: certPem, key: keyPem });
    });

    it('fails start-up on half a client certificate, a key that is not one, or the key of another certificate', () => {
      const { certPem } = createTestCa();
      // A key of the same type as the certificate's, as a mix-up of two clients' files would give.
      const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
        .privateKey.export({ type: 'pkcs8', format: 'pem' })
        .toString();
      const notAKey = fileOf(certPem);
      expect(() => loadAppConfig({ ...secured, KAFKA_SSL_CERT_FILE: fileOf(certPem) })).toThrow(
        'KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together: the client certificate and its private key',
      );
      expect(() =>
        loadAppConfig({ ...secured, KAFKA_SSL_CERT_FILE: fileOf(certPem), KAFKA_SSL_KEY_FILE: notAKey }),
      ).toThrow(
        `KAFKA_SSL_KEY_FILE must name a file holding an unencrypted PEM private key (an encrypted one can be decrypted with \`openssl pkey -in KEY -out KEY.pem\`): ${notAKey}`,
      );
      expect(() =>
        loadAppConfig({
          ...secured,
          KAFKA_SSL_CERT_FILE: fileOf(certPem),
          KAFKA_SSL_KEY_FILE: fileOf(otherKey),
        }),
      ).toThrow('KAFKA_SSL_KEY_FILE is not the private key of the first certificate in KAFKA_SSL_CERT_FILE');
    });
  });
});

it('.env.example names every variable the apps read', () => {
  const read = new Set<string>();
  const recording = new Proxy({ AUTH_MODE: 'dev' } as Record<string, string | undefined>, {
    get: (target, name: string) => {
      read.add(name);
      return target[name];
    },
  });
  loadAppConfig(recording, 'config-api');
  loadAppConfig(recording, 'dispatcher');
  const example = readFileSync(join(__dirname, '../../../.env.example'), 'utf8');
  expect([...read].filter((name) => !new RegExp(`^#? ?${name}=`, 'm').test(example))).toEqual([]);
  expect(read.size).toBeGreaterThan(30);
});
