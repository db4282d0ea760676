import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LatencyFigures } from '../scenarios/latency';
import type { ReloadFigures } from '../scenarios/reload';
import type { TenantFigures } from '../scenarios/tenants';
import type { AdminFigures, RouteFigures } from '../scenarios/admin-api';
import type { CeilingFigures, DrainFigures } from '../scenarios/throughput';
import type { ProfileFigures } from '../scenarios/profile';

export interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

// Figures of a run: every scenario is optional (--only), so each is read defensively.
interface Figures {
  throughput?: { mixed: DrainFigures; apns: DrainFigures; fcm: DrainFigures };
  ceilings?: CeilingFigures;
  latency?: LatencyFigures[];
  reload?: ReloadFigures;
  tenants?: TenantFigures;
  adminApi?: AdminFigures;
  profile?: ProfileFigures;
}

/** The issue's targets against what was measured. */
export function evaluate(raw: Record<string, unknown>): Verdict[] {
  const f = raw as Figures;
  const verdicts: Verdict[] = [];
  const add = (target: string, measured: string, met: boolean) => verdicts.push({ target, measured, met });
  if (f.throughput && f.ceilings) {
    const kafka = f.ceilings.kafkaDrainPerSecond;
    const apnsCeiling = Math.min(f.ceilings.apnsHttp2PerSecond, kafka);
    const fcmCeiling = Math.min(f.ceilings.fcmHttpsPerSecond, kafka);
    const { apns, fcm } = f.throughput;
    add('APNs path ≥ 10,000 pushes/s', `${apns.pushesPerSecond}/s`, apns.pushesPerSecond >= 10_000);
    add(
      'APNs path ≥ 60 % of its ceiling',
      `${pct(apns.pushesPerSecond / apnsCeiling)} of ${apnsCeiling}/s`,
      apns.pushesPerSecond >= 0.6 * apnsCeiling,
    );
    add('FCM path ≥ 5,000 pushes/s', `${fcm.pushesPerSecond}/s`, fcm.pushesPerSecond >= 5000);
    add(
      'FCM path ≥ 60 % of its ceiling',
      `${pct(fcm.pushesPerSecond / fcmCeiling)} of ${fcmCeiling}/s`,
      fcm.pushesPerSecond >= 0.6 * fcmCeiling,
    );
    for (const drained of [f.throughput.mixed, apns, fcm])
      add(
        `${drained.path}: every request has a result, all sent`,
        `${drained.results}/${drained.requests}, ${drained.notSent} not sent`,
        drained.results === drained.requests && drained.notSent === 0,
      );
  }
  for (const run of f.latency ?? []) {
    const limit = run.offeredPerSecond <= 1000 ? 20 : 50;
    add(
      `p99 ≤ ${limit} ms at ${run.offeredPerSecond}/s`,
      `${run.produceToPeer.p99} ms`,
      run.produceToPeer.p99 <= limit,
    );
  }
  if (f.reload) {
    add(
      'hot reload p99 ≤ 500 ms',
      `${f.reload.patchToFirstPushWithNewKey.p99} ms`,
      f.reload.patchToFirstPushWithNewKey.p99 <= 500,
    );
    add('hot reload: 0 pushes lost or failed', String(f.reload.lostOrFailed), f.reload.lostOrFailed === 0);
    const neverInEffect = f.reload.swapsNeverInEffect;
    add('hot reload: every swap took effect', `${neverInEffect} never did`, neverInEffect === 0);
  }
  if (f.tenants) {
    const t = f.tenants;
    add(
      `${t.tenants} tenants ready in ≤ 5 s`,
      `${(t.startToReadyMs / 1000).toFixed(1)} s`,
      t.startToReadyMs <= 5000,
    );
    add('RSS idle ≤ 300 MB', `${t.rssIdleMiB} MiB`, t.rssIdleMiB <= 300);
    add(
      `RSS with ${t.activeTenants} active tenants ≤ 600 MB`,
      `${t.rssActiveMiB} MiB`,
      t.rssActiveMiB <= 600,
    );
    add(
      'sessions closed after the idle timeout',
      `${t.openSessionsAfterIdleTimeout} open`,
      t.openSessionsAfterIdleTimeout === 0,
    );
  }
  for (const route of f.adminApi?.routes ?? []) {
    const floor = route.route.startsWith('GET') ? 2000 : 500;
    add(`${route.route} ≥ ${floor}/s`, `${route.requestsPerSecond}/s`, route.requestsPerSecond >= floor);
    add(
      `${route.route} p99 ≤ 50 ms, 0 non-2xx`,
      `${route.p99Ms} ms, ${route.non2xx} non-2xx`,
      route.p99Ms <= 50 && route.non2xx === 0 && route.errors === 0,
    );
  }
  return verdicts;
}

export function printTable(raw: Record<string, unknown>, verdicts: Verdict[]): void {
  const f = raw as Figures;
  const lines: string[] = [];
  if (f.throughput) {
    lines.push('', 'Throughput (drain)         pushes/s  results/s  CPU s/1000  results');
    for (const d of [f.throughput.mixed, f.throughput.apns, f.throughput.fcm])
      lines.push(
        `  ${d.path.padEnd(8)} ${String(d.requests).padStart(7)} req  ${String(d.pushesPerSecond).padStart(8)}  ${String(d.resultsPerSecond).padStart(9)}  ${String(d.cpuSecondsPer1000).padStart(10)}  ${d.results}`,
      );
  }
  if (f.ceilings)
    lines.push(
      `Ceilings: APNs HTTP/2 ${f.ceilings.apnsHttp2PerSecond}/s, FCM HTTPS ${f.ceilings.fcmHttpsPerSecond}/s, Kafka drain ${f.ceilings.kafkaDrainPerSecond}/s`,
    );
  for (const run of f.latency ?? [])
    lines.push(
      `Latency at ${run.offeredPerSecond}/s: produce→peer p50 ${run.produceToPeer.p50} p95 ${run.produceToPeer.p95} p99 ${run.produceToPeer.p99} max ${run.produceToPeer.max} ms; produce→result p50 ${run.produceToResult.p50} p99 ${run.produceToResult.p99} ms; bare kafkajs produce→consume p50 ${run.kafkaFloor?.p50} p99 ${run.kafkaFloor?.p99} ms`,
    );
  if (f.reload)
    lines.push(
      `Hot reload (${f.reload.patches} PATCHes): 200 → first push with the new key p50 ${f.reload.patchToFirstPushWithNewKey.p50} p99 ${f.reload.patchToFirstPushWithNewKey.p99} ms; lost or failed ${f.reload.lostOrFailed} of ${f.reload.requests}; ${f.reload.swapsNotObserved} keys superseded before any push used them (timed until a later key was used); ${f.reload.swapsNeverInEffect} swaps never took effect`,
    );
  if (f.tenants)
    lines.push(
      `Tenants (${f.tenants.tenants}): ready in ${f.tenants.startToReadyMs} ms; RSS idle ${f.tenants.rssIdleMiB} MiB, ${f.tenants.activeTenants} active ${f.tenants.rssActiveMiB} MiB, after idle timeout ${f.tenants.rssAfterIdleTimeoutMiB} MiB`,
    );
  if (f.adminApi)
    lines.push(
      `Store ceiling: ${f.adminApi.storeLookupsPerSecond} lookups/s by primary key (bare driver, 50 at a time)`,
    );
  for (const route of f.adminApi?.routes ?? [])
    lines.push(
      `Admin API ${route.route}: ${route.requestsPerSecond} req/s, p99 ${route.p99Ms} ms, non-2xx ${route.non2xx}${nonSuccessStatuses(route)}, errors ${route.errors} (timeouts included)`,
    );
  if (f.profile)
    lines.push(
      `Profile (${f.profile.requests} APNs requests, ${f.profile.busySeconds} s busy): ${f.profile.categories
        .slice(0, 6)
        .map((c) => `${c.name} ${c.percent} %`)
        .join(', ')}`,
    );
  lines.push('', 'Targets:');
  for (const v of verdicts)
    lines.push(`  ${v.met ? 'met   ' : 'MISSED'}  ${v.target.padEnd(48)} ${v.measured}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The committed report: figures next to targets, and the latency chart beside it. */
export function writeReport(dir: string, raw: Record<string, unknown>, verdicts: Verdict[]): void {
  const f = raw as unknown as Figures & { at: string; machine: Record<string, unknown>; partial?: string };
  writeFileSync(join(dir, 'latency.svg'), latencyChart(f.latency ?? []));
  const rows = verdicts.map((v) => `| ${v.target} | ${v.measured} | ${v.met ? 'met' : '**missed**'} |`);
  const report = [
    '# Benchmark report',
    '',
    `Run ${f.at} on ${JSON.stringify(f.machine)}. Generated by \`npm run bench\`; raw figures in [latest.json](latest.json).`,
    ...(f.partial ? ['', `Partial run: ${f.partial}.`] : []),
    '',
    '| Target | Measured | |',
    '|---|---|---|',
    ...rows,
    '',
    '![Latency, produce to peer](latency.svg)',
    '',
    ...profileSection(f.profile),
    // The analysis (levers pulled, before and after, what bounds each figure) is written by hand.
    readFileSync(join(__dirname, '..', 'levers.md'), 'utf8'),
  ].join('\n');
  writeFileSync(join(dir, 'REPORT.md'), report);
}

function latencyChart(runs: LatencyFigures[]): string {
  const width = 640;
  const height = 320;
  const left = 60;
  const bottom = 40;
  const plotW = width - left - 20;
  const plotH = height - bottom - 20;
  const maxMs = Math.max(1, ...runs.flatMap((run) => run.curve.map(([, ms]) => ms)));
  const percentiles = runs[0]?.curve.map(([p]) => p) ?? [];
  const x = (i: number) => left + (i / Math.max(1, percentiles.length - 1)) * plotW;
  const y = (ms: number) => 20 + plotH - (Math.log10(1 + ms) / Math.log10(1 + maxMs)) * plotH;
  const colors = ['#1f77b4', '#d62728', '#2ca02c'];
  const lines = runs.map((run, r) => {
    const points = run.curve.map(([, ms], i) => `${x(i).toFixed(1)},${y(ms).toFixed(1)}`).join(' ');
    return `<polyline fill="none" stroke="${colors[r % 3]}" stroke-width="2" points="${points}"/><text x="${left + 10}" y="${30 + r * 16}" fill="${colors[r % 3]}" font-size="12">${run.offeredPerSecond}/s (p99 ${run.produceToPeer.p99} ms)</text>`;
  });
  const ticks = percentiles.map(
    (p, i) =>
      `<text x="${x(i).toFixed(1)}" y="${height - 20}" font-size="10" text-anchor="middle">p${p}</text>`,
  );
  const yTicks = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
    .filter((ms) => ms <= maxMs)
    .map(
      (ms) =>
        `<text x="${left - 6}" y="${y(ms).toFixed(1)}" font-size="10" text-anchor="end">${ms} ms</text><line x1="${left}" x2="${width - 20}" y1="${y(ms).toFixed(1)}" y2="${y(ms).toFixed(1)}" stroke="#ddd"/>`,
    );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...yTicks,
    ...ticks,
    ...lines,
    `<text x="${width / 2}" y="${height - 4}" font-size="11" text-anchor="middle">produce → peer latency by percentile (log scale)</text>`,
    '</svg>',
    '',
  ].join('\n');
}

/** Where the dispatcher's CPU went in the profiled pass: by category, the hottest functions, the flame graph. */
function profileSection(profile: ProfileFigures | undefined): string[] {
  if (!profile) return [];
  return [
    `### Where the dispatcher's CPU goes (${profile.requests} APNs requests under \`node --cpu-prof\`)`,
    '',
    `${profile.busySeconds} s of busy samples from the first push to the last; this drain of`,
    `${profile.requests} ran at ${profile.pushesPerSecondProfiled}/s under the profiler, which is not counted as a throughput`,
    'figure. Code with no script of its own (built-ins, native bindings) counts for the JavaScript that',
    'called it.',
    '',
    '| Category | Share of busy samples |',
    '|---|---|',
    // Categories that round to nothing would only lengthen the table.
    ...profile.categories.filter((c) => c.percent > 0).map((c) => `| ${c.name} | ${c.percent} % |`),
    '',
    '| Hottest functions (self time) | Share |',
    '|---|---|',
    ...profile.hottest.map((h) => `| \`${h.name}\` ${h.where} (${h.category}) | ${h.percent} % |`),
    '',
    `![Flame graph of the dispatcher](${profile.flameGraph})`,
    '',
  ];
}

const pct = (ratio: number) => `${Math.round(ratio * 100)} %`;

/** ` (409 ×60, 503 ×6)`: the statuses behind a non-2xx count, when the run recorded them. */
function nonSuccessStatuses(route: RouteFigures): string {
  const statuses = Object.entries(route.non2xxByStatus ?? {});
  return statuses.length ? ` (${statuses.map(([status, count]) => `${status} ×${count}`).join(', ')})` : '';
}
