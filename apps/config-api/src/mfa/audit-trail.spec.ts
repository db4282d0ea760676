import type { MfaConfigRecord } from '@lib/mfa-config';
import { changedFields } from './audit-trail';

const sealed = (ciphertext: string) => ({ kid: 'k1', nonce: 'n', ciphertext });
const record = (overrides: Partial<MfaConfigRecord['settings']> = {}, enabled = true): MfaConfigRecord =>
  ({
    tenant: 'acme',
    type: 'push',
    enabled,
    provider: 'native',
    version: 1,
    settings: {
      enabled_clients: ['web'],
      strategy: 'code',
      apns: {
        bundle_id: 'b',
        key_id: 'K',
        team_id: 'T',
        production: true,
        key: sealed('c1'),
        key_fingerprint: 'f1',
      },
      ...overrides,
    },
  }) as MfaConfigRecord;

describe('changedFields', () => {
  it('names the fields that changed, not the ones sealed again with a fresh nonce', () => {
    const before = record();
    const resealed = record({ apns: { ...before.settings!.apns!, key: sealed('c2') } });
    expect(changedFields(before, resealed)).toEqual([]);
    const after = record({ enabled_clients: ['web', 'cli'] }, false);
    expect(changedFields(before, after)).toEqual(['enabled', 'settings.enabled_clients']);
  });

  it('counts a key as changed when its fingerprint did, and a provider added or removed', () => {
    const before = record();
    const newKey = record({ apns: { ...before.settings!.apns!, key: sealed('c3'), key_fingerprint: 'f2' } });
    expect(changedFields(before, newKey)).toEqual(['settings.apns.key']);
    const withoutApns = record({ apns: undefined });
    expect(changedFields(before, withoutApns)).toEqual(
      expect.arrayContaining(['settings.apns.bundle_id', 'settings.apns.key']),
    );
  });
});
