import { kafkaIsOurs, mongoIsOurs, withDatabase } from './local-servers';

describe('withDatabase: a test run’s own database on the servers MONGODB_URI names', () => {
  it('replaces the database and keeps the options', () => {
    expect(withDatabase('mongodb://127.0.0.1:27017/push_mfa', 'run1')).toBe('mongodb://127.0.0.1:27017/run1');
    expect(withDatabase('mongodb://127.0.0.1:27017', 'run1')).toBe('mongodb://127.0.0.1:27017/run1');
    expect(withDatabase('mongodb://h:1/?directConnection=true', 'run1')).toBe(
      'mongodb://h:1/run1?directConnection=true',
    );
  });

  it('takes a replica set’s host list, which URL refuses', () => {
    expect(withDatabase('mongodb://mongo-1:27017,mongo-2:27017/push_mfa?replicaSet=rs0', 'run1')).toBe(
      'mongodb://mongo-1:27017,mongo-2:27017/run1?replicaSet=rs0',
    );
  });

  it('keeps authenticating against the database of the URI, which the driver would otherwise take from the new one', () => {
    expect(withDatabase('mongodb://user:p%40ss@mongo-1:27017/push_mfa?replicaSet=rs0', 'run1')).toBe(
      'mongodb://user:p%40ss@mongo-1:27017/run1?replicaSet=rs0&authSource=push_mfa',
    );
    // Without a database: admin, where the driver authenticated.
    expect(withDatabase('mongodb://u:p@mongo-1:27017/?replicaSet=rs0', 'run1')).toBe(
      'mongodb://u:p@mongo-1:27017/run1?replicaSet=rs0&authSource=admin',
    );
    // Named already; left to the DNS TXT record; or users of $external, which the driver picks itself.
    for (const uri of [
      'mongodb://u:p@h:1/push_mfa?authSource=other',
      'mongodb+srv://u:p@cluster.example.net/',
      'mongodb://CN%3Dapp@h:1/push_mfa?authMechanism=MONGODB-X509&tls=true',
      'mongodb://CN%3Dapp@h:1/push_mfa?authmechanism=mongodb-x509&tls=true',
    ])
      expect(withDatabase(uri, 'run1')).not.toMatch(/authSource=(?!other)/);
  });

  it('refuses what is not a MongoDB URI, without echoing it (it may hold a password)', () => {
    expect(() => withDatabase('postgres://u:secret@h/db', 'run1')).toThrow(
      /^MONGODB_URI is not a mongodb:\/\//,
    );
    expect(() => withDatabase('postgres://u:secret@h/db', 'run1')).not.toThrow(/secret/);
  });
});

describe('whose servers the settings name: the project’s own, which runs may stop and purge', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });
  const withEnv = (env: Record<string, string | undefined>) => {
    process.env = {
      ...saved,
      KAFKA_BROKERS: undefined,
      MONGODB_URI: undefined,
      KAFKA_PORT: undefined,
      MONGO_PORT: undefined,
      ...env,
    };
    for (const [key, value] of Object.entries(process.env)) if (value === undefined) delete process.env[key];
  };

  it('the defaults, and the same addresses spelled out, are ours', () => {
    withEnv({});
    expect([kafkaIsOurs(), mongoIsOurs()]).toEqual([true, true]);
    withEnv({ KAFKA_BROKERS: 'localhost:9092', MONGODB_URI: 'mongodb://localhost:27017/x' });
    expect([kafkaIsOurs(), mongoIsOurs()]).toEqual([true, true]);
  });

  it('follows the infra scripts to another port', () => {
    withEnv({ KAFKA_PORT: '19092', MONGO_PORT: '27018' });
    expect([kafkaIsOurs(), mongoIsOurs()]).toEqual([true, true]);
    withEnv({
      KAFKA_PORT: '19092',
      MONGO_PORT: '27018',
      KAFKA_BROKERS: '127.0.0.1:9092',
      MONGODB_URI: 'mongodb://127.0.0.1:27017/x',
    });
    expect([kafkaIsOurs(), mongoIsOurs()]).toEqual([false, false]);
  });

  it('another host is not ours', () => {
    withEnv({
      KAFKA_BROKERS: 'kafka-1:9092,kafka-2:9092',
      MONGODB_URI: 'mongodb://user:pass@mongo-1:27017/push_mfa',
    });
    expect([kafkaIsOurs(), mongoIsOurs()]).toEqual([false, false]);
  });
});
