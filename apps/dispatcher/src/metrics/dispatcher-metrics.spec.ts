import { DispatcherMetrics } from './dispatcher-metrics';

describe('DispatcherMetrics', () => {
  it('tells apart challenges answered after minutes of retries, not only those within 10 s', async () => {
    const metrics = new DispatcherMetrics();
    metrics.endToEnd.observe({ provider: 'fcm', status: 'sent' }, 200);
    const buckets = (await metrics.endToEnd.get()).values.filter((value) =>
      value.metricName?.endsWith('_bucket'),
    );
    const count = (le: number) =>
      buckets.find((bucket) => (bucket.labels as Record<string, unknown>).le === le)?.value;
    expect([count(10), count(120), count(300), count(900)]).toEqual([0, 0, 1, 1]);
  });
});
