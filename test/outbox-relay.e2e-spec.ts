import type { Connection } from 'mongoose';
import { resolveTopicNames } from '@lib/contracts';
import { configRecordId, MfaConfigRecord, MfaConfigRepository, MfaConfigSchema } from '@lib/mfa-config';
import { OutboxRelay } from '../apps/config-api/src/outbox/outbox-relay';
import { minimalConfigState as state, openConfigStore } from './support/config-store';
import { testAppConfig } from './support/test-environment';
import { TopicReader } from './support/topic-reader';

// The relay finds documents with events to publish through an index on outbox_pending_since, so the
// field must come with the first pending event and go with the last; documents an earlier version
// wrote without it are found by a scan when the relay starts (and every few minutes after).
describe('outbox relay (real MongoDB-compatible server and Kafka)', () => {
  const config = testAppConfig();
  let connection: Connection;
  let repository: MfaConfigRepository;
  let events: TopicReader;

  const stored = async (tenant: string) => (await repository.findAny(tenant, 'push')) as MfaConfigRecord;
  const relay = () => new OutboxRelay(config, repository);
  /** One pass of a relay that has just started, then its shutdown; how many events it published. */
  const flushOnce = async () => {
    const starting = relay();
    try {
      return await starting.flush();
    } finally {
      await starting.onApplicationShutdown();
    }
  };
  /** A document as a version before outbox_pending_since wrote it: one pending event, no field. */
  const writtenWithoutTheField = async (_id: string, tenant: string, version: number) => {
    const at = new Date();
    const event = { event_id: `${tenant}-${version}`, version, change: 'updated' as const, occurred_at: at };
    await connection.collection<MfaConfigRecord>('mfa_configs').insertOne({
      _id,
      tenant,
      type: 'push',
      ...state(['old']),
      version,
      deleted: false,
      created_at: at,
      updated_at: at,
      pending_events: [event],
    });
  };

  /**
   * The repository, recording the events each removal marks published ("tenant v1,2"), in the order the
   * relay published them, then running `after`.
   */
  const watched = (inner: MfaConfigRepository, published: string[], after: () => Promise<void>) => {
    const spy = Object.create(inner) as MfaConfigRepository;
    spy.markEventsPublished = async (read, eventIds) => {
      const versions = read.pending_events.filter((event) => eventIds.includes(event.event_id));
      published.push(`${read.tenant} v${versions.map((event) => event.version).join(',')}`);
      const removed = await inner.markEventsPublished(read, eventIds);
      await after();
      return removed;
    };
    return spy;
  };

  beforeAll(async () => {
    ({ connection, repository } = await openConfigStore(config));
    events = await new TopicReader(config, resolveTopicNames(config.kafka).configChanged).start();
  });
  afterAll(async () => {
    await events.stop();
    await connection.dropDatabase().catch(() => undefined);
    await connection.close();
  });

  it('indexes outbox_pending_since, sparse', async () => {
    // FerretDB accepts and ignores `sparse`, so the server's list shows the index and the schema the option.
    expect(MfaConfigSchema.indexes()).toContainEqual([
      { outbox_pending_since: 1 },
      expect.objectContaining({ sparse: true }),
    ]);
    const indexes = await connection.collection('mfa_configs').indexes();
    expect(indexes).toContainEqual(expect.objectContaining({ key: { outbox_pending_since: 1 } }));
  });

  it('marks a document while it has events to publish, keeps the first time, and clears it once published', async () => {
    const created = await repository.create('marked', 'push', state(['a']));
    expect(created.outbox_pending_since).toEqual(created.created_at);
    const updated = await repository.update(created, state(['b']), new Date(Date.now() + 1000));
    expect((await stored('marked')).outbox_pending_since).toEqual(created.created_at);
    expect((await repository.findWithPendingEvents(100)).map((d) => d._id)).toContain('marked/push');

    expect(await flushOnce()).toBeGreaterThanOrEqual(2);
    const after = await stored('marked');
    expect(after.pending_events).toEqual([]);
    expect(after.outbox_pending_since).toBeUndefined();
    expect((await repository.findWithPendingEvents(100)).map((d) => d._id)).not.toContain('marked/push');
    await events.waitFor((m) => m.key === 'marked/push' && m.value.version === updated.version);

    // The next change marks it again, from its own time.
    const at = new Date(Date.now() + 2000);
    await repository.update(after, state(['c']), at);
    expect((await stored('marked')).outbox_pending_since).toEqual(at);
  });

  it('publishes the events of a document written without the field, found by a scan when the relay starts', async () => {
    await writtenWithoutTheField(configRecordId('legacy', 'push'), 'legacy', 3);
    expect((await repository.findWithPendingEvents(100)).map((d) => d._id)).not.toContain('legacy/push');

    await flushOnce();
    const event = await events.waitFor((m) => m.key === 'legacy/push' && m.value.version === 3);
    expect(event.value).toMatchObject({ event_id: 'legacy-3', change: 'updated' });
    expect((await stored('legacy')).pending_events).toEqual([]);
  });

  it("publishes a long outage's backlog of one document, over the broker's request limit all together, in parts and in order", async () => {
    const at = new Date();
    const backlog = Array.from({ length: 6000 }, (_, i) => ({
      event_id: `backlog-${i + 1}-${'x'.repeat(100)}`,
      version: i + 1,
      change: 'updated' as const,
      occurred_at: at,
    }));
    await connection.collection<MfaConfigRecord>('mfa_configs').insertOne({
      _id: configRecordId('backlog', 'push'),
      tenant: 'backlog',
      type: 'push',
      ...state(['a']),
      version: backlog.length,
      deleted: false,
      created_at: at,
      updated_at: at,
      outbox_pending_since: at,
      pending_events: backlog,
    });
    expect(await flushOnce()).toBeGreaterThanOrEqual(backlog.length);
    await events.waitFor((m) => m.key === 'backlog/push' && m.value.version === backlog.length);
    const versions = events.messages.filter((m) => m.key === 'backlog/push').map((m) => m.value.version);
    expect(versions).toEqual(backlog.map((event) => event.version));
    expect((await stored('backlog')).pending_events).toEqual([]);
  });

  it('publishes a write made during a pass over a backlog before the rest of the backlog, and once', async () => {
    const backlog = ['queue-0', 'queue-1', 'queue-2', 'queue-3'];
    // A millisecond apart: the backlog is read in the order of outbox_pending_since, ties unordered.
    const from = Date.now();
    for (const [i, tenant] of backlog.entries())
      await repository.create(tenant, 'push', state(['a']), new Date(from + i));
    const published: string[] = [];
    const running = new OutboxRelay(
      config,
      watched(repository, published, async () => {
        // Right after the backlog's first document, an admin changes its last one.
        if (published.at(-1) !== 'queue-0 v1') return;
        running.wake(await repository.update(await stored('queue-3'), state(['b']), new Date()));
      }),
    );
    try {
      await running.flush();
    } finally {
      await running.onApplicationShutdown();
    }
    const ours = published.filter((entry) => entry.startsWith('queue-'));
    expect(ours).toEqual(['queue-0 v1', 'queue-3 v1,2', 'queue-1 v1', 'queue-2 v1']);
    await events.waitFor((m) => m.key === 'queue-3/push' && m.value.version === 2);
    expect(events.messages.filter((m) => m.key === 'queue-3/push').length).toBe(2);
  });

  it('keeps publishing what it finds by the index while an old document keeps its events', async () => {
    // Stored before ids were tenant/type: the relay publishes its events but cannot remove them.
    await writtenWithoutTheField('id-of-an-older-scheme', 'stuck', 1);
    const running = relay();
    running.onApplicationBootstrap();
    try {
      await events.waitFor((m) => m.key === 'stuck/push' && m.value.version === 1);
      // Written without waking the relay, as by another replica: only its periodic query finds it.
      await repository.create('later', 'push', state(['a']));
      await events.waitFor((m) => m.key === 'later/push' && m.value.version === 1);
    } finally {
      await running.onApplicationShutdown();
    }
  });

  it('takes a marked document with nothing left to publish out of the index', async () => {
    await repository.create('stale', 'push', state(['a']));
    const current = await stored('stale');
    // As a FerretDB update racing the relay's removal could leave it: events gone, field still there.
    await connection
      .collection<MfaConfigRecord>('mfa_configs')
      .updateOne({ _id: 'stale/push' }, { $set: { pending_events: [] } });
    await flushOnce();
    expect((await stored('stale')).outbox_pending_since).toBeUndefined();
    expect(current.version).toBe((await stored('stale')).version);
  });
});
