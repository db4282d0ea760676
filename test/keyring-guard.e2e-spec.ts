import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import mongoose, { Connection } from 'mongoose';
import { Keyring } from '@lib/crypto';
import { KEY_CHECKS_COLLECTION, KeyringGuard, KeyringMismatchError } from '@lib/mfa-config';
import { testEnvironment } from './support/test-environment';

const newKey = () => randomBytes(32).toString('base64');
const guard = (connection: Connection, keys: string) => new KeyringGuard(connection, Keyring.parse(keys));

// Other bytes under a key id the store knows would seal secrets no other replica opens: refused at start.
describe('keyring guard (real MongoDB-compatible server)', () => {
  const env = testEnvironment();
  const k1 = env.MFA_ENCRYPTION_KEYS!;
  let connection: Connection;

  beforeAll(async () => {
    connection = await mongoose.createConnection(env.MONGODB_URI!).asPromise();
  });
  afterAll(async () => {
    await connection.dropDatabase().catch(() => undefined);
    await connection.close();
  });

  it('records each key id on first use, and accepts the same keys again, also with a new key listed first', async () => {
    await guard(connection, k1).onModuleInit();
    const k2 = `k2:${newKey()}`;
    // Two replicas starting at once with a new key: both record it, neither refuses the other.
    await Promise.all([
      guard(connection, `${k2},${k1}`).onModuleInit(),
      guard(connection, `${k2},${k1}`).onModuleInit(),
    ]);
    await guard(connection, k1).onModuleInit();
    const stored = await connection.collection(KEY_CHECKS_COLLECTION).find().sort({ _id: 1 }).toArray();
    expect(stored.map((document) => document._id)).toEqual(['k1', 'k2']);
    // It tells the key apart without revealing it.
    expect(JSON.stringify(stored)).not.toContain(k1.slice(3));
  });

  it('refuses other bytes under a known id, naming the id and what to do', async () => {
    const refusal = guard(connection, `k3:${newKey()},k1:${newKey()}`).onModuleInit();
    await expect(refusal).rejects.toBeInstanceOf(KeyringMismatchError);
    await expect(refusal).rejects.toThrow(
      /key "k1" is not the key this database has known as "k1" since .*Put back the key "k1" was/,
    );
  });

  it.each(['config-api', 'dispatcher'])(
    'stops %s at start-up with that message and no stack, exit 1',
    (app) => {
      const run = spawnSync(
        'node',
        ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', `apps/${app}/src/main.ts`],
        {
          env: { ...env, MFA_ENCRYPTION_KEYS: `k1:${newKey()}`, PORT: '0', DISPATCHER_PORT: '0' },
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(
        'MFA_ENCRYPTION_KEYS key "k1" is not the key this database has known as "k1"',
      );
      expect(run.stderr).not.toContain('    at ');
    },
    90_000,
  );
});
