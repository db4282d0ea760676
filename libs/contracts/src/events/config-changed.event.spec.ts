import { EventValidator } from '../event-validator';
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
