import * as hdr from 'hdr-histogram-js';

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Latencies in milliseconds, through an HdrHistogram (1 µs to 10 min, 3 significant digits). */
export function summarize(latenciesMs: number[]): LatencySummary {
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const value of latenciesMs) histogram.recordValue(Math.max(1, Math.round(value * 1000)));
  const at = (percentile: number) => round(histogram.getValueAtPercentile(percentile) / 1000);
  const summary = {
    count: latenciesMs.length,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    max: round(histogram.maxValue / 1000),
  };
  histogram.destroy();
  return summary;
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Each latency's distribution, for the report's chart: [percentile, ms] pairs. */
export function percentileCurve(latenciesMs: number[]): [number, number][] {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const points: [number, number][] = [];
  for (const percentile of [0, 10, 25, 50, 75, 90, 95, 99, 99.9, 100]) {
    if (sorted.length === 0) break;
    const index = Math.min(sorted.length - 1, Math.floor((percentile / 100) * sorted.length));
    points.push([percentile, sorted[index]]);
  }
  return points;
}
