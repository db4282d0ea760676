import { EventValidator } from '../event-validator';
import { configAppliedSchema } from './config-applied.event';
import { configChangedSchema } from './config-changed.event';

describe('mfa.config.changed', () => {
  const validator = new EventValidator(configChangedSchema);
  const event = (tenant: string) => ({
    event_id: 'e-1',
    type: 'mfa.config.changed',
    tenant,
    mfa_type: 'push',
    version: 1,
    change: 'created',
    occurred_at: new Date().toISOString(),
  });

  it('takes the tenant ids the API accepts, and refuses any other name', () => {
    expect(validator.check(event('acme-eu.1')).ok).toBe(true);
    for (const forged of ['../acme', 'acme/push', '', 'é', 'a'.repeat(65)])
      expect(validator.check(event(forged))).toMatchObject({
        ok: false,
        reason: expect.stringContaining('tenant'),
      });
  });
});

describe('mfa.config.applied', () => {
  const validator = new EventValidator(configAppliedSchema);
  const report = (tenant: string) => ({
    tenant,
    mfa_type: 'push',
    version: 1,
    status: 'applied',
    replica: 'replica-1',
    at: new Date().toISOString(),
  });

  it('takes the tenant ids the API accepts, so a forged report cannot name a document of its own choosing', () => {
    expect(validator.check(report('acme-eu.1')).ok).toBe(true);
    for (const forged of ['../acme', 'acme/push', '', 'a'.repeat(65)])
      expect(validator.check(report(forged))).toMatchObject({
        ok: false,
        reason: expect.stringContaining('tenant'),
      });
  });
});
