import { generateKeyPairSync } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { AppConfig } from '@lib/config';
import type {
  MfaConfigRecord,
  MfaConfigRepository,
  MfaConfigSealer,
  MfaConfiguration,
} from '@lib/mfa-config';
import { DispatcherMetrics } from '../metrics/dispatcher-metrics';
import type { SenderFactory } from '../senders/sender-factory';
import { LiveClientRegistry } from './live-client-registry';

const p8 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();

/** A registry over stored configurations of these tenants, each with the APNs key given. */
function registryOver(
  keys: Record<string, string>,
  statuses: Record<string, MfaConfigRecord['status']> = {},
  metrics = new DispatcherMetrics(),
) {
  const records = Object.keys(keys).map(
    (tenant) =>
      ({ tenant, type: 'push', version: 3, enabled: true, status: statuses[tenant] }) as MfaConfigRecord,
  );
  const sealer = {
    open: (record: MfaConfigRecord): MfaConfiguration => ({
      enabled: true,
      provider: 'native',
      type: 'push',
      settings: {
        enabled_clients: ['web'],
        strategy: 'prompt',
        apns: { bundle_id: 'b', key: keys[record.tenant], key_id: 'K', team_id: 'T', production: true },
      },
    }),
  } as unknown as MfaConfigSealer;
  const senders = { apns: () => ({ close: async () => undefined }) } as unknown as SenderFactory;
  return new LiveClientRegistry(
    { dispatcher: { idleSessionTimeoutMs: 60_000 } } as AppConfig,
    { findAllLive: async () => records } as unknown as MfaConfigRepository,
    sealer,
    senders,
    metrics,
  );
}

describe('LiveClientRegistry start-up key checks', () => {
  it('does not call a version applied before its key was checked, while the checks run', async () => {
    const registry = registryOver({ good: p8, broken: 'not a key' });
    await registry.loadAll({ deferKeyChecks: true });
    const checking = registry.checkDeferredKeys();
    // A resync's catch-up during the checks: neither key is known good yet.
    expect([registry.catchUpOutcome('good', 3), registry.catchUpOutcome('broken', 3)]).toEqual([
      undefined,
      undefined,
    ]);
    expect(await checking).toEqual([expect.objectContaining({ tenant: 'broken', state: 'failed' })]);
    expect(registry.catchUpOutcome('good', 3)).toEqual({ state: 'applied', version: 3 });
    expect(registry.catchUpOutcome('broken', 3)).toMatchObject({ state: 'failed', version: 3 });
  });
});

describe('LiveClientRegistry resyncs', () => {
  it('counts and logs a version that cannot be applied once, not again at every resync', async () => {
    const metrics = new DispatcherMetrics();
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const registry = registryOver({ broken: 'not a key' }, {}, metrics);
      for (let resync = 0; resync < 3; resync++)
        expect(await registry.loadAll()).toEqual([expect.objectContaining({ state: 'failed', version: 3 })]);
      expect((await metrics.configReloads.get()).values).toEqual([
        expect.objectContaining({ labels: { state: 'failed' }, value: 1 }),
      ]);
      expect(errors).toHaveBeenCalledTimes(1);
    } finally {
      errors.mockRestore();
    }
  });
});

describe('LiveClientRegistry load outcomes', () => {
  it('names a stored status that lacks the version, and hands over one that reports on it', async () => {
    const at = new Date();
    const current = { version: 3, state: 'failed' as const, at, replica: 'other', error: 'x' };
    const registry = registryOver(
      { lacking: p8, older: p8, reportedOn: p8 },
      { older: { version: 2, state: 'applied', at }, reportedOn: current },
    );
    const outcomes = await registry.loadAll();
    expect(Object.fromEntries(outcomes.map((o) => [o.tenant, [o.statusBehind, o.reported]]))).toEqual({
      lacking: [true, undefined],
      older: [true, undefined],
      reportedOn: [false, current],
    });
  });
});

describe('LiveClientRegistry applying a version whose secrets it cannot open', () => {
  const apns = { bundle_id: 'b', key: p8, key_id: 'K', team_id: 'T', production: true };
  const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  const fcm = { client_email: 'fb@p.iam.gserviceaccount.com', project_id: 'p', private_key: rsaKey };
  /** Version 3 opens; later ones are sealed with a key this replica lacks. */
  function registryAt(
    next: { enabled: boolean; enabled_clients: string[]; apns?: true; fcm?: true },
    { apnsKeyOfV3 = p8 } = {},
  ) {
    const stored = (version: number, settings: object, enabled = true) =>
      ({ tenant: 't', type: 'push', version, enabled, settings }) as unknown as MfaConfigRecord;
    const v3 = stored(3, { enabled_clients: ['web', 'ios'], strategy: 'prompt', apns: {}, fcm: {} });
    const v4 = stored(
      4,
      {
        enabled_clients: next.enabled_clients,
        strategy: 'prompt',
        ...(next.apns && { apns: {} }),
        ...(next.fcm && { fcm: {} }),
      },
      next.enabled,
    );
    const configOf = (record: MfaConfigRecord): MfaConfiguration => ({
      enabled: record.enabled,
      provider: 'native',
      type: 'push',
      settings: {
        enabled_clients: record.settings!.enabled_clients,
        strategy: 'prompt',
        ...(record.settings!.apns && { apns: { ...apns, key: record.version === 3 ? apnsKeyOfV3 : p8 } }),
        ...(record.settings!.fcm && { fcm }),
      },
    });
    const sealer = {
      open: (record: MfaConfigRecord) => {
        if (record.version > 3) throw new Error('no key "new" in MFA_ENCRYPTION_KEYS');
        return configOf(record);
      },
      openReplaceable: (record: MfaConfigRecord) => ({ config: configOf(record), unreadable: [] }),
    } as unknown as MfaConfigSealer;
    const closed: string[] = [];
    const sender = (provider: string) => () => ({
      close: async () => void closed.push(provider),
    });
    const senders = { apns: sender('apns'), fcm: sender('fcm') } as unknown as SenderFactory;
    const registry = new LiveClientRegistry(
      { dispatcher: { idleSessionTimeoutMs: 60_000 } } as AppConfig,
      {
        findAllLive: async () => [v3],
        findAny: async () => v4,
      } as unknown as MfaConfigRepository,
      sealer,
      senders,
      new DispatcherMetrics(),
    );
    return { registry, closed };
  }

  it('applies a disable all the same: a disabled configuration needs no secrets', async () => {
    const { registry } = registryAt({
      enabled: false,
      enabled_clients: ['web', 'ios'],
      apns: true,
      fcm: true,
    });
    await registry.loadAll();
    expect(await registry.onChanged('t', 'push', 4)).toEqual({ state: 'applied', version: 4 });
    expect(registry.get('t')).toMatchObject({ version: 4, enabled: false });
  });

  it('keeps the held version serving, less the clients and providers the new one removed', async () => {
    const { registry, closed } = registryAt({ enabled: true, enabled_clients: ['web'], fcm: true });
    await registry.loadAll();
    expect(await registry.onChanged('t', 'push', 4)).toMatchObject({ state: 'failed', version: 4 });
    const live = registry.get('t')!;
    expect(live.version).toBe(3);
    expect(live.config.settings.enabled_clients).toEqual(['web']);
    expect([live.sender('apns'), live.sender('fcm')]).toEqual([undefined, expect.anything()]);
    // The clients it replaced are closed once idle.
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed.sort()).toEqual(['apns', 'fcm']);
  });

  it('leaves the held version as it is when the new one removed nothing', async () => {
    const { registry } = registryAt({
      enabled: true,
      enabled_clients: ['web', 'ios'],
      apns: true,
      fcm: true,
    });
    await registry.loadAll();
    const held = registry.get('t');
    expect(await registry.onChanged('t', 'push', 4)).toMatchObject({ state: 'failed', version: 4 });
    expect(registry.get('t')).toBe(held);
  });

  it('still checks the key of a held version it narrowed while the start-up checks ran', async () => {
    const { registry } = registryAt(
      { enabled: true, enabled_clients: ['web'], apns: true },
      { apnsKeyOfV3: 'not a key' },
    );
    await registry.loadAll({ deferKeyChecks: true });
    const checking = registry.checkDeferredKeys();
    expect(await registry.onChanged('t', 'push', 4)).toMatchObject({ state: 'failed', version: 4 });
    expect(await checking).toEqual([expect.objectContaining({ tenant: 't', state: 'failed', version: 3 })]);
    expect(registry.get('t')).toBeUndefined();
  });
});
