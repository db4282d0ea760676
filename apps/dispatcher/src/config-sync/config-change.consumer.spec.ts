import type { Consumer } from 'kafkajs';
import { loadAppConfig } from '@lib/config';
import type { ResilientConsumer, ResilientConsumerOptions } from '@lib/kafka';
import type { ResultPublisher } from '../results/result-publisher';
import { ConfigChangeConsumer } from './config-change.consumer';
import type { ApplyOutcome, LiveClientRegistry, LoadOutcome } from './live-client-registry';

/**
 * A consumer whose registry's load gives `outcomes`; `held` says what the registry would report for a
 * tenant's version the stored status lacks. What it publishes is recorded; the first `failing` fail.
 */
function consumerWith(outcomes: LoadOutcome[], held: Record<string, ApplyOutcome>, failing = 0) {
  const registry = {
    loadAll: async () => outcomes,
    catchUpOutcome: (tenant: string, version: number) =>
      held[tenant]?.version === version ? held[tenant] : undefined,
  } as unknown as LiveClientRegistry;
  const reported: string[] = [];
  const publisher = {
    reportApplied: async (tenant: string, outcome: ApplyOutcome) => {
      if (outcome.state === 'unchanged') return;
      if (failing-- > 0) throw new Error('broker unreachable');
      reported.push(`${tenant} v${outcome.version} ${outcome.state}`);
    },
  } as unknown as ResultPublisher;
  const consumer = new ConfigChangeConsumer(
    loadAppConfig({ AUTH_MODE: 'dev', DISPATCHER_REPLICA_ID: 'me' }, 'dispatcher'),
    registry,
    publisher,
  );
  return { resync: () => (consumer as unknown as { resyncAll(): Promise<void> }).resyncAll(), reported };
}

const behind = (tenant: string, version: number, state: ApplyOutcome['state'] = 'unchanged'): LoadOutcome =>
  ({
    tenant,
    state,
    version,
    statusBehind: true,
    ...(state === 'failed' && { error: 'bad key' }),
  }) as LoadOutcome;

describe('ConfigChangeConsumer resync reports', () => {
  it('reports what it changed, and what the stored status lacks as the registry holds it', async () => {
    const { resync, reported } = consumerWith(
      [
        behind('missed-report', 3),
        { tenant: 'recorded', state: 'unchanged', version: 2, statusBehind: false },
        // Behind, but not held here (its apply failed here before, and was reported): nothing to add.
        behind('not-held', 5),
        { tenant: 'missed-event', state: 'applied', version: 7, statusBehind: true },
        // The provider refused this version's key here: it is reported failed, never applied.
        behind('refused', 4),
        { tenant: 'failing-again', state: 'failed', version: 6, error: 'bad key', statusBehind: false },
      ],
      {
        'missed-report': { state: 'applied', version: 3 },
        recorded: { state: 'applied', version: 2 },
        refused: { state: 'failed', version: 4, error: 'APNs refused the credentials' },
      },
    );
    await resync();
    expect(reported).toEqual(['missed-report v3 applied', 'missed-event v7 applied', 'refused v4 failed']);
  });

  it("keeps a replica's failure to apply a version from being hidden by others' reports, and lets it go once nobody sends it", async () => {
    const interval = 5 * 60_000; // CONFIG_RESYNC_INTERVAL_MS's default
    const shown = (
      tenant: string,
      state: 'applied' | 'failed',
      replica: string,
      ageMs: number,
    ): LoadOutcome => ({
      tenant,
      state: 'unchanged',
      version: 8,
      statusBehind: false,
      reported: { version: 8, state, replica, at: new Date(Date.now() - ageMs) },
    });
    const failedHere = { state: 'failed', version: 8, error: 'MFA_ENCRYPTION_KEYS lacks k2' } as const;
    const appliedHere = { state: 'applied', version: 8 } as const;
    const { resync, reported } = consumerWith(
      [
        shown('hidden-failure', 'applied', 'other', 0),
        shown('own-recent-failure', 'failed', 'me', interval),
        shown('others-recent-failure-here-too', 'failed', 'other', interval),
        shown('own-failure-sent-a-while-ago', 'failed', 'me', 1.6 * interval),
        shown('others-recent-failure', 'failed', 'other', 3 * interval),
        shown('others-forgotten-failure', 'failed', 'other', 3.6 * interval),
        shown('own-failure-fixed', 'failed', 'me', 0),
        shown('agreeing', 'applied', 'other', 0),
      ],
      {
        'hidden-failure': failedHere,
        'own-recent-failure': failedHere,
        'others-recent-failure-here-too': failedHere,
        'own-failure-sent-a-while-ago': failedHere,
        'others-recent-failure': appliedHere,
        'others-forgotten-failure': appliedHere,
        'own-failure-fixed': appliedHere,
        agreeing: appliedHere,
      },
    );
    await resync();
    expect(reported).toEqual([
      'hidden-failure v8 failed',
      'own-failure-sent-a-while-ago v8 failed',
      'others-forgotten-failure v8 applied',
      'own-failure-fixed v8 applied',
    ]);
  });

  it('reports a version the status lacks once, though nothing records it, and stops at a report Kafka refuses', async () => {
    const { resync, reported } = consumerWith(
      [behind('a', 1), behind('b', 1), behind('c', 1)],
      {
        a: { state: 'applied', version: 1 },
        b: { state: 'applied', version: 1 },
        c: { state: 'applied', version: 1 },
      },
      1,
    );
    // Kafka refuses the first: the others would each wait out the producer's retries; left for the next resync.
    await resync();
    expect(reported).toEqual([]);
    await resync();
    expect(reported).toEqual(['a v1 applied', 'b v1 applied', 'c v1 applied']);
    // Published: Kafka keeps them until the config-api records them.
    await resync();
    expect(reported).toHaveLength(3);
  });
});

describe('ConfigChangeConsumer start-up', () => {
  it('loads the store once the consumer has measured where the topic ends, and resyncs after a join during the load', async () => {
    const steps: string[] = [];
    let onJoin: () => void = () => undefined;
    const registry = {
      loadAll: async () => {
        steps.push('load');
        // The group joins again while the first load reads (a broker restart, say): once is not enough.
        if (steps.length === 2) onJoin();
        return [];
      },
      checkDeferredKeys: async () => [],
    } as unknown as LiveClientRegistry;
    const consumer = new ConfigChangeConsumer(
      loadAppConfig({ AUTH_MODE: 'dev' }, 'dispatcher'),
      registry,
      {} as ResultPublisher,
    );
    const resilient = (consumer as unknown as { consumer: ResilientConsumer }).consumer;
    const options = (resilient as unknown as { options: ResilientConsumerOptions }).options;
    // Where reading starts is measured in start(): the load after it misses no event published since.
    expect(options.startAtEnds).toBe(true);
    Object.assign(resilient, {
      start: async () => {
        steps.push('start (measures the ends)');
        onJoin = () => options.onJoin?.({} as Consumer);
        onJoin();
      },
      ready: Promise.resolve(),
      stop: async () => undefined,
    });
    await consumer.onApplicationBootstrap();
    await new Promise((resolve) => setImmediate(resolve));
    await consumer.beforeApplicationShutdown();
    expect(steps).toEqual(['start (measures the ends)', 'load', 'load']);
  });

  it('reports a broken key found after the load once, though the stored status said applied', async () => {
    const failure = { tenant: 'broken', state: 'failed', version: 2, error: 'not a key' } as const;
    const registry = {
      loadAll: async (): Promise<LoadOutcome[]> => [
        {
          tenant: 'broken',
          state: 'applied',
          version: 2,
          statusBehind: false,
          reported: { version: 2, state: 'applied', replica: 'other', at: new Date() },
        },
      ],
      checkDeferredKeys: async () => [failure],
      catchUpOutcome: () => failure,
    } as unknown as LiveClientRegistry;
    const reported: string[] = [];
    const publisher = {
      reportApplied: async (tenant: string, outcome: ApplyOutcome) =>
        void reported.push(`${tenant} ${outcome.state}`),
    } as unknown as ResultPublisher;
    const consumer = new ConfigChangeConsumer(
      loadAppConfig({ AUTH_MODE: 'dev' }, 'dispatcher'),
      registry,
      publisher,
    );
    const resilient = (consumer as unknown as { consumer: ResilientConsumer }).consumer;
    Object.assign(resilient, {
      start: async () => undefined,
      ready: Promise.resolve(),
      stop: async () => undefined,
    });
    await consumer.onApplicationBootstrap();
    await consumer.beforeApplicationShutdown();
    expect(reported).toEqual(['broken failed']);
  });
});
