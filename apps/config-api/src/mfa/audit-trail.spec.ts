import type { MfaConfigRecord, StoredApnsSettings } from '@lib/mfa-config';
import { Logger } from '@nestjs/common';
import type { AppConfig } from '@lib/config';
import { AuditTrail, changedFields } from './audit-trail';

const sealed = (ciphertext: string) => ({ kid: 'k1', nonce: 'n', ciphertext });
const apns = (overrides: Partial<StoredApnsSettings> = {}): StoredApnsSettings => ({
  bundle_id: 'b',
  key_id: 'K',
  team_id: 'T',
  production: true,
  key: sealed('c1'),
  key_fingerprint: 'f1',
  ...overrides,
});
const record = (
  settings: Partial<NonNullable<MfaConfigRecord['settings']>> = {},
  top: Partial<MfaConfigRecord> = {},
): MfaConfigRecord =>
  ({
    tenant: 'acme',
    type: 'push',
    enabled: true,
    provider: 'native',
    version: 1,
    updated_at: new Date(1),
    settings: { enabled_clients: ['web'], strategy: 'code', apns: apns(), ...settings },
    ...top,
  }) as MfaConfigRecord;

describe('changedFields', () => {
  it('names nothing when only the sealing or what the repository owns changed', () => {
    expect(
      changedFields(
        record(),
        record({ apns: apns({ key: sealed('c2') }) }, { version: 2, updated_at: new Date(2) }),
      ),
    ).toEqual([]);
  });

  it('names the plain fields that changed, arrays by their order too', () => {
    expect(changedFields(record(), record({ enabled_clients: ['web', 'cli'] }, { enabled: false }))).toEqual([
      'enabled',
      'settings.enabled_clients',
    ]);
    const two = record({ enabled_clients: ['a', 'b'] });
    expect(changedFields(two, record({ enabled_clients: ['b', 'a'] }))).toEqual(['settings.enabled_clients']);
    expect(changedFields(record(), record({}, { is_custom: true }))).toEqual(['is_custom']);
  });

  it('counts a key as changed when its fingerprint did, never naming the ciphertext', () => {
    expect(
      changedFields(record(), record({ apns: apns({ key: sealed('c3'), key_fingerprint: 'f2' }) })),
    ).toEqual(['settings.apns.key']);
  });

  it('names every field of a provider added or removed', () => {
    const all = ['bundle_id', 'key', 'key_id', 'production', 'team_id'].map(
      (field) => `settings.apns.${field}`,
    );
    expect(changedFields(record(), record({ apns: undefined }))).toEqual(all);
    expect(changedFields(record({ apns: undefined }), record())).toEqual(all);
  });
});

describe('AuditTrail.unconfirmed', () => {
  it('writes an audit line naming who, what and on which version, marked unconfirmed', () => {
    const trail = new AuditTrail({ logLevel: 'info' } as AppConfig);
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      trail.unconfirmed(
        { principal: { subject: 'admin', tenant: 'acme', scopes: new Set() }, requestId: 'r1' },
        'update',
        { tenant: 'acme', type: 'push', basedOn: 6 },
        new Error('connection reset'),
      );
      expect(warn).toHaveBeenCalledWith(
        expect.objectContaining({
          audit: true,
          outcome: 'unconfirmed',
          actor: 'admin',
          request_id: 'r1',
          tenant: 'acme',
          type: 'push',
          based_on_version: 6,
          error: 'connection reset',
        }),
      );
    } finally {
      warn.mockRestore();
    }
  });
});
