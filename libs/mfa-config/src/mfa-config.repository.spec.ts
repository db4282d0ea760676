import type { Model } from 'mongoose';
import {
  MAX_PENDING_EVENTS,
  MfaConfigRepository,
  newConfigRecord,
  StoredConfigState,
} from './mfa-config.repository';
import type { MfaConfigRecord } from './mfa-config.schema';

/** A model whose queries record the read concern they were sent with (none: the connection's, local). */
function recordingModel() {
  const reads: string[] = [];
  const query = (name: string) => {
    let level = 'default';
    const chain = {
      readConcern: (wanted: string) => ((level = wanted), chain),
      sort: () => chain,
      limit: () => chain,
      lean: () => chain,
      exec: async () => {
        reads.push(`${name}: ${level}`);
        return name === 'find' ? [] : null;
      },
    };
    return chain;
  };
  const model = {
    find: () => query('find'),
    findOne: () => query('findOne'),
  } as unknown as Model<MfaConfigRecord>;
  return { repository: new MfaConfigRepository(model), reads };
}

describe('MfaConfigRepository read concerns', () => {
  it('reads what is published or applied majority-committed, and the latest before a guarded write', async () => {
    const { repository, reads } = recordingModel();
    await repository.findAllLive();
    await repository.findWithPendingEvents(10);
    await repository.findWithUnindexedPendingEvents(10);
    await repository.findAny('acme', 'push', { committed: true });
    await repository.findAny('acme', 'push');
    expect(reads).toEqual([
      'find: majority',
      'find: majority',
      'find: majority',
      'findOne: majority',
      'findOne: local',
    ]);
  });
});

describe('MfaConfigRepository pending events', () => {
  /** A model holding one stored record; its updateOne records the update it was sent. */
  function modelHolding(record: MfaConfigRecord) {
    const updates: Record<string, unknown>[] = [];
    const found = { readConcern: () => found, lean: () => found, exec: async () => record };
    const model = {
      findOne: () => found,
      updateOne: (_filter: unknown, update: Record<string, unknown>) => ({
        exec: async () => (updates.push(update), { matchedCount: 1, modifiedCount: 1 }),
      }),
    } as unknown as Model<MfaConfigRecord>;
    return { repository: new MfaConfigRepository(model), updates };
  }

  const disabled: StoredConfigState = {
    enabled: false,
    provider: 'native',
    settings: { enabled_clients: ['web'], strategy: 'prompt' },
  };
  const stored = (pending: number): MfaConfigRecord => ({
    ...newConfigRecord('acme', 'push', { ...disabled, enabled: true }),
    version: pending,
    pending_events: Array.from({ length: pending }, (_, i) => ({
      event_id: `e${i + 1}`,
      version: i + 1,
      change: 'updated' as const,
      occurred_at: new Date(0),
    })),
  });

  it('appends the event while the document has room for it', async () => {
    const { repository, updates } = modelHolding(stored(3));
    const written = await repository.updateLatest('acme', 'push', () => disabled);
    expect(updates[0].$push).toEqual({ pending_events: expect.objectContaining({ version: 4 }) });
    expect(written?.pending_events.map((event) => event.version)).toEqual([1, 2, 3, 4]);
  });

  it(`keeps the newest ${MAX_PENDING_EVENTS} events of a configuration changed while none were published`, async () => {
    const { repository, updates } = modelHolding(stored(MAX_PENDING_EVENTS));
    const written = await repository.updateLatest('acme', 'push', () => disabled);
    const kept = (updates[0].$set as MfaConfigRecord).pending_events;
    expect(updates[0].$push).toBeUndefined();
    expect([kept.length, kept[0].version, kept[kept.length - 1].version]).toEqual([
      MAX_PENDING_EVENTS,
      2,
      MAX_PENDING_EVENTS + 1,
    ]);
    expect(written?.pending_events).toEqual(kept);
  });
});
