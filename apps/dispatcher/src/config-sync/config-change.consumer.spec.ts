import { loadAppConfig } from '@lib/config';
import type { ResultPublisher } from '../results/result-publisher';
import { ConfigChangeConsumer } from './config-change.consumer';
import type { ApplyOutcome, LiveClientRegistry, LoadOutcome } from './live-client-registry';

/** A consumer whose registry's load gives `outcomes`, holding `live` versions; what it reports is recorded. */
function consumerWith(outcomes: LoadOutcome[], live: Record<string, number>, failFirstReports = 0) {
  const registry = {
    loadAll: async () => outcomes,
    get: (tenant: string) => (tenant in live ? { version: live[tenant] } : undefined),
  } as unknown as LiveClientRegistry;
  const reported: string[] = [];
  let failing = failFirstReports;
  const publisher = {
    reportApplied: async (tenant: string, outcome: ApplyOutcome) => {
      if (outcome.state === 'unchanged') return;
      if (failing-- > 0) throw new Error('broker unreachable');
      reported.push(`${tenant} v${outcome.version} ${outcome.state}`);
    },
  } as unknown as ResultPublisher;
  const consumer = new ConfigChangeConsumer(
    loadAppConfig({ AUTH_MODE: 'dev' }, 'dispatcher'),
    registry,
    publisher,
  );
  return { resync: () => (consumer as unknown as { resyncAll(): Promise<void> }).resyncAll(), reported };
}

describe('ConfigChangeConsumer resync reports', () => {
  it('reports a version held here whose stored status is behind, besides what it changed', async () => {
    const { resync, reported } = consumerWith(
      [
        { tenant: 'missed-report', state: 'unchanged', version: 3, statusBehind: true },
        { tenant: 'recorded', state: 'unchanged', version: 2, statusBehind: false },
        // Behind, but this replica does not hold it (its apply failed here): nothing to say it applied.
        { tenant: 'not-held', state: 'unchanged', version: 5, statusBehind: true },
        { tenant: 'missed-event', state: 'applied', version: 7, statusBehind: true },
        { tenant: 'broken', state: 'failed', version: 4, error: 'bad key', statusBehind: true },
      ],
      { 'missed-report': 3, recorded: 2, 'not-held': 4, 'missed-event': 7 },
    );
    await resync();
    expect(reported).toEqual(['missed-report v3 applied', 'missed-event v7 applied', 'broken v4 failed']);
  });

  it('goes on after a report it cannot publish: the next resync sends that one again', async () => {
    const outcomes: LoadOutcome[] = ['a', 'b', 'c'].map((tenant) => ({
      tenant,
      state: 'unchanged',
      version: 1,
      statusBehind: true,
    }));
    const { resync, reported } = consumerWith(outcomes, { a: 1, b: 1, c: 1 }, 1);
    await resync();
    expect(reported).toEqual(['b v1 applied', 'c v1 applied']);
    await resync();
    expect(reported).toEqual([
      'b v1 applied',
      'c v1 applied',
      'a v1 applied',
      'b v1 applied',
      'c v1 applied',
    ]);
  });
});
