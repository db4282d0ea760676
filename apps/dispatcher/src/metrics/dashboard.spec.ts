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
    'mfa_consumer_lag',
  ]);
  expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
  expect(queried.size).toBeGreaterThan(8);
});
