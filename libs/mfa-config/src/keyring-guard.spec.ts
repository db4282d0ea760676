import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import { Keyring } from '@lib/crypto';
import { KeyringGuard, KeyringMismatchError } from './keyring-guard';

/** A store whose database user may read the recorded checks but not write (MongoDB's code 13). */
function readOnlyStore(recorded: Keyring, code = 13) {
  const documents = recorded.checks.map(({ id, check }) => ({ _id: id, check, first_seen_at: new Date(0) }));
  const collection = {
    updateOne: () => Promise.reject(Object.assign(new Error('not authorized'), { code })),
    find: () => ({ toArray: async () => documents }),
  };
  return { collection: () => collection } as unknown as Connection;
}

describe('KeyringGuard', () => {
  const known = Keyring.parse(`k1:${randomBytes(32).toString('base64')}`);

  it('with a user that may only read, still compares: the same key starts, other bytes are refused', async () => {
    await expect(new KeyringGuard(readOnlyStore(known), known).onModuleInit()).resolves.toBeUndefined();
    // MongoDB Atlas says it with a code of its own.
    await expect(new KeyringGuard(readOnlyStore(known, 8000), known).onModuleInit()).resolves.toBeUndefined();
    const other = Keyring.parse(`k1:${randomBytes(32).toString('base64')}`);
    await expect(new KeyringGuard(readOnlyStore(known), other).onModuleInit()).rejects.toBeInstanceOf(
      KeyringMismatchError,
    );
  });

  it('passes on any other failure to record (the start fails, naming it)', async () => {
    const store = {
      collection: () => ({ updateOne: () => Promise.reject(new Error('server selection timed out')) }),
    } as unknown as Connection;
    await expect(new KeyringGuard(store, known).onModuleInit()).rejects.toThrow('server selection timed out');
  });
});
