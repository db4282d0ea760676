import { randomBytes } from 'node:crypto';
import { Keyring, SecretBox } from '@lib/crypto';
import type { MfaConfigRecord, MfaConfigRepository, MfaConfigSealer } from '@lib/mfa-config';
import { leftAfter, SecretResealer } from './secret-resealer';

const box = new SecretBox(Keyring.parse(`new:${randomBytes(32).toString('base64')}`));
const ids = ['a/push', 'b/push', 'c/push', 'd/push', 'e/push'];
const record = { tenant: 'a', type: 'push', version: 1 } as MfaConfigRecord;

function resealerOver(repository: Partial<MfaConfigRepository>): SecretResealer {
  const sealer = {
    resealed: () => ({ enabled_clients: [], strategy: 'prompt' }),
  } as unknown as MfaConfigSealer;
  const all = { findSealedWithOtherKeys: async () => ids.map((_id) => ({ _id })), ...repository };
  return new SecretResealer(all as MfaConfigRepository, sealer, box);
}

describe('SecretResealer', () => {
  it('ends a pass after a run of store errors, counting what it did not reach', async () => {
    const pass = await resealerOver({
      findLiveById: async () => {
        throw new Error('connection refused');
      },
    }).pass();
    expect(pass.unsettled).toEqual({ does_not_open: 0, kept_changing: 0, store_error: 3, not_reached: 2 });
    expect(leftAfter(pass)).toBe(5);
  });

  it('gives up on a configuration that keeps changing, for the next pass', async () => {
    const pass = await resealerOver({
      findLiveById: async () => record,
      replaceSealedSettings: async () => false,
    }).pass();
    expect(pass).toMatchObject({ found: 5, settled: 0, unsettled: { kept_changing: 5 } });
  });
});
