import type { Connection } from 'mongoose';
import {
  ConcurrentModificationError,
  ConfigAlreadyExistsError,
  MAX_PENDING_EVENTS,
  MFA_CONFIG_MODEL,
  MfaConfigRecord,
  MfaConfigRepository,
} from '@lib/mfa-config';
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

  it("a create racing another replica's re-create of a deleted configuration is told it exists (409), not a 500", async () => {
    await repository.create('revived', 'push', state(['c0']));
    await repository.deleteLatest('revived', 'push');
    const tombstone = (await repository.findAny('revived', 'push'))!;
    // Another API replica (its own write queue) re-creates it between this replica's read and write.
    const { connection: other, repository: otherReplica } = await openConfigStore(config);
    try {
      await otherReplica.create('revived', 'push', state(['theirs']));
    } finally {
      await other.close();
    }
    jest.spyOn(repository, 'findAny').mockResolvedValueOnce(tombstone);

    await expect(repository.create('revived', 'push', state(['ours']))).rejects.toBeInstanceOf(
      ConfigAlreadyExistsError,
    );
    expect((await repository.findLive('revived', 'push'))!.settings!.enabled_clients).toEqual(['theirs']);
  });

  it('a configuration changed while nothing was published keeps only its newest events, and takes every write', async () => {
    const created = await repository.create('backlog', 'push', state(['c0']));
    // As after a long Kafka outage: the document holds as many events as it may.
    const waiting = Array.from({ length: MAX_PENDING_EVENTS }, (_, i) => ({
      ...created.pending_events[0],
      event_id: `waiting-${i}`,
    }));
    await connection
      .model(MFA_CONFIG_MODEL)
      .updateOne({ _id: created._id }, { $set: { pending_events: waiting } });

    const written = (await repository.updateLatest('backlog', 'push', () => state(['c1'])))!;
    const stored = (await repository.findAny('backlog', 'push'))!;
    expect(stored.pending_events).toHaveLength(MAX_PENDING_EVENTS);
    expect(stored.pending_events[0].event_id).toBe('waiting-1');
    expect(stored.pending_events.at(-1)).toMatchObject({ version: written.version, change: 'updated' });
    expect(stored.settings!.enabled_clients).toEqual(['c1']);

    // The relay removes what it published between a writer's read and its write: none of it comes back.
    const read = (await repository.findAny('backlog', 'push'))!;
    const publishing = await repository.findAny('backlog', 'push');
    await repository.markEventsPublished(
      publishing!,
      publishing!.pending_events.map((e) => e.event_id),
    );
    await expect(repository.update(read, state(['c2']))).rejects.toBeInstanceOf(ConcurrentModificationError);
    expect((await repository.findAny('backlog', 'push'))!.pending_events).toEqual([]);
  });

  it('a report late from before a delete is not shown as the status of the configuration created again', async () => {
    await repository.create('late-report', 'push', state(['c0']));
    const first = (await repository.updateLatest('late-report', 'push', () => state(['c1'])))!;
    await repository.deleteLatest('late-report', 'push');
    const again = await repository.create('late-report', 'push', state(['c2']));
    const report = (version: number) => ({ version, state: 'applied' as const, at: new Date() });

    await repository.recordAppliedStatus('late-report', 'push', report(first.version));
    expect((await repository.findLive('late-report', 'push'))!.status).toBeUndefined();

    await repository.recordAppliedStatus('late-report', 'push', report(again.version));
    expect((await repository.findLive('late-report', 'push'))!.status).toMatchObject({
      version: again.version,
      state: 'applied',
    });
  });
});
