import { generateKeyPairSync } from 'node:crypto';
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
) {
  const records = Object.keys(keys).map(
    (tenant) => ({ tenant, type: 'push', version: 3, status: statuses[tenant] }) as MfaConfigRecord,
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
    new DispatcherMetrics(),
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
