import { EventValidator } from './event-validator';
import { pushRequestedSchema } from './events/push-requested.event';

describe('EventValidator reasons', () => {
  const validator = new EventValidator(pushRequestedSchema);
  const request = (overrides: Record<string, unknown>) => ({
    challenge_id: 'ch-1',
    client_id: 'web-login',
    device: { provider: 'fcm', token: 'fcm-token' },
    expires_at: new Date(Date.now() + 60_000).toISOString(),
    ...overrides,
  });
  const reason = (value: unknown) => {
    const result = validator.check(value);
    return result.ok ? 'accepted' : result.reason;
  };

  it('names a field that is not one of the event, also inside an object', () => {
    expect(reason(request({ expiresAt: 'soon' }))).toBe(
      '"expiresAt" is not a field of this event (a misspelling?)',
    );
    expect(reason(request({ message: { subtitle: 'x' } }))).toBe(
      'message."subtitle" is not a field of this event (a misspelling?)',
    );
    // A hostile name (a megabyte) must not make the dead letter and the result carrying it as large.
    const huge = reason(request({ ['x'.repeat(1_000_000)]: 1, ['y'.repeat(1_000_000)]: 2 }));
    expect(huge.length).toBeLessThan(1100);
    expect(huge).toContain(`"${'x'.repeat(64)}…" is not a field`);
  });

  it('names the values a field allows', () => {
    expect(reason(request({ strategy: 'push' }))).toBe('strategy must be one of "code", "prompt", null');
  });

  it.each(['2026-12-06T17:00:00+01', '2026-12-06T23:59:60Z', '2026-02-30T10:00:00Z', 'tomorrow'])(
    'refuses a time JavaScript cannot read (%s), naming the field',
    (expiresAt) => {
      expect(reason(request({ expires_at: expiresAt }))).toBe('expires_at must match format "date-time"');
    },
  );

  it('takes RFC 3339 times with an offset or Z, in either case', () => {
    for (const expiresAt of ['2026-12-06T17:00:00.123+01:00', '2026-12-06t17:00:00z'])
      expect(reason(request({ expires_at: expiresAt }))).toBe('accepted');
  });
});
