import mongoose, { Connection } from 'mongoose';
import {
  MFA_CONFIG_MODEL,
  MfaConfigRecord,
  MfaConfigRepository,
  MfaConfigSchema,
  StoredConfigState,
} from '@lib/mfa-config';
import { testAppConfig } from './support/test-environment';

// The store's writers all touch one document: an admin's change, the outbox relay removing what it
// published, and the dispatchers' status reports. None may lose another's write on the real server.
describe('configuration store (real MongoDB-compatible server)', () => {
  const config = testAppConfig();
  let connection: Connection;
  let repository: MfaConfigRepository;

  const state = (clients: string[]): StoredConfigState => ({
    enabled: false,
    provider: 'native',
    settings: { enabled_clients: clients, strategy: 'prompt' },
  });

  beforeAll(async () => {
    connection = await mongoose.createConnection(config.mongodbUri).asPromise();
    repository = new MfaConfigRepository(connection.model(MFA_CONFIG_MODEL, MfaConfigSchema));
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
