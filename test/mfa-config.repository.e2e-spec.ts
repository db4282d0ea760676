import type { Connection } from 'mongoose';
import type { MfaConfigRecord, MfaConfigRepository } from '@lib/mfa-config';
import { minimalConfigState as state, openConfigStore } from './support/config-store';
import { testAppConfig } from './support/test-environment';

// The store's writers all touch one document: an admin's change, the outbox relay removing what it
// published, and the dispatchers' status reports. None may lose another's write on the real server.
describe('configuration store (real MongoDB-compatible server)', () => {
  const config = testAppConfig();
  let connection: Connection;
  let repository: MfaConfigRepository;

  beforeAll(async () => {
    ({ connection, repository } = await openConfigStore(config));
  });
  afterAll(async () => {
    await connection.dropDatabase().catch(() => undefined);
    await connection.close();
  });

  it('concurrent writers to one configuration never lose a change or its event', async () => {
    await repository.create('race', 'push', state(['c0']));
    for (let round = 1; round <= 40; round++) {
      const current = (await repository.findAny('race', 'push'))!;
      const [written] = await Promise.all([
        repository.update(current, state([`c${round}`])),
        repository.markEventsPublished(
          current,
          current.pending_events.map((event) => event.event_id),
        ),
        repository.recordAppliedStatus('race', 'push', {
          version: current.version,
          state: 'applied',
          at: new Date(),
        }),
      ]);
      const stored = (await repository.findAny('race', 'push')) as MfaConfigRecord;
      expect({ round, version: stored.version, clients: stored.settings!.enabled_clients }).toEqual({
        round,
        version: written.version,
        clients: [`c${round}`],
      });
      expect(stored.pending_events.map((event) => event.version)).toContain(written.version);
    }
  });
});
