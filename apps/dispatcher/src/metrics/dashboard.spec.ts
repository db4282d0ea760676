import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiMetrics } from '../../../config-api/src/metrics/api-metrics';
import { DispatcherMetrics } from './dispatcher-metrics';

// The Grafana dashboard must chart metrics the apps really export (a renamed metric shows as an empty panel).
it('the dashboard only queries metrics the apps export', async () => {
  const dashboard = JSON.parse(
    readFileSync(join(__dirname, '../../../../observability/grafana/dashboards/push-mfa.json'), 'utf8'),
  ) as { panels: { targets: { expr: string }[] }[] };
  const queried = new Set(
    dashboard.panels
      .flatMap((panel) => panel.targets.map((target) => target.expr))
      .flatMap((expr) => expr.match(/\b(mfa|http)_[a-z_]+/g) ?? [])
      .map((name) => name.replace(/_(bucket|count|sum)$/, '')),
  );
  const exported = new Set([
    ...(await new DispatcherMetrics().registry.getMetricsAsJSON()).map((metric) => metric.name),
    ...(
      await new ApiMetrics(
        { countWithPendingEvents: async () => 0 } as never,
        { lastPass: undefined } as never,
      ).registry.getMetricsAsJSON()
    ).map((metric) => metric.name),
    // The lag gauges (metrics/consumer-lag.ts) need a broker to be built.
    'mfa_consumer_lag',
    'mfa_retrying_lag',
  ]);
  expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
  expect(queried.size).toBeGreaterThan(8);
});

// Every replica reports these for the whole system (all tenants, the whole group's lag): summed across
// replicas they would read N times too high.
it('the dashboard never sums a gauge every replica reports in full', () => {
  const dashboard = readFileSync(
    join(__dirname, '../../../../observability/grafana/dashboards/push-mfa.json'),
    'utf8',
  );
  for (const gauge of ['mfa_consumer_lag', 'mfa_live_configurations'])
    expect(dashboard).not.toMatch(new RegExp(`sum(\\s+by\\s*\\([^)]*\\))?\\s*\\(\\s*${gauge}`));
});
