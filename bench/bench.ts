/**
 * `npm run bench [-- --quick] [-- --only=throughput,latency,reload,tenants,admin,profile]`: the benchmark.
 * Three kinds of process: this one (the load generator), the peers (bench/peers-process.ts), and the
 * apps from their production build. Prints a table, writes bench/results/latest.json and, for a full
 * run, bench/results/REPORT.md with the latency chart.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import os from 'node:os';
import { adminApi } from './scenarios/admin-api';
import { ceilings, drain } from './scenarios/throughput';
import { hotReload } from './scenarios/reload';
import { latencyUnderLoad } from './scenarios/latency';
import { manyTenants } from './scenarios/tenants';
import { profiledDrain } from './scenarios/profile';
import { BenchContext, strategyOf } from './support/context';
import { PeersProcess } from './support/peers';
import { seedTenants } from './support/tenants';
import { evaluate, printTable, writeReport } from './support/report';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const runs = (scenario: string) => !only || only.includes(scenario);

/** Sizes: the full figures, or a quick pass (each scenario well under a minute) for CI. */
const SIZE = quick
  ? {
      tenants: 20,
      mixed: 3000,
      perPath: 1500,
      ceiling: 3000,
      rates: [500, 1000],
      seconds: 5,
      patches: 5,
      manyTenants: 1000,
      active: 200,
      adminSeconds: 3,
      profiled: 1500,
    }
  : {
      tenants: 100,
      mixed: 100_000,
      perPath: 50_000,
      ceiling: 50_000,
      rates: [1000, 5000],
      seconds: 30,
      patches: 50,
      manyTenants: 10_000,
      active: 1000,
      adminSeconds: 20,
      profiled: 20_000,
    };

// For profiling one path at a chosen size: --per-path=N.
const perPath = Number(args.find((arg) => arg.startsWith('--per-path='))?.split('=')[1] ?? NaN);
if (perPath > 0) SIZE.perPath = perPath;

/** --report: rewrites REPORT.md and the chart from latest.json (after editing bench/levers.md). */
function rewriteReport(): void {
  const dir = resolve('bench', 'results');
  const figures = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as Record<string, unknown>;
  writeReport(dir, figures, evaluate(figures));
}

async function main(): Promise<void> {
  if (args.includes('--report')) return rewriteReport();
  const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);
  const peers = await PeersProcess.start();
  const ctx = new BenchContext(peers, await peers.endpoints());
  const figures: Record<string, unknown> = {
    mode: quick ? 'quick' : 'full',
    at: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    sizes: SIZE,
  };
  try {
    const database = ctx.database('main');
    const tenants = Array.from({ length: SIZE.tenants }, (_, i) => `t${i}`);
    log(`seeding ${tenants.length} tenants; peers pid ${peers.pid}; logs in ${ctx.logDir}`);
    await seedTenants(database, ctx.encryptionKeys, ctx.credentials, tenants, strategyOf);
    await ctx.credentials.trust(peers, tenants);

    if (runs('throughput')) {
      log(`1. throughput: ${SIZE.mixed} mixed requests, then ${SIZE.perPath} per path`);
      const mixed = await drain(ctx, database, tenants, 'mixed', SIZE.mixed);
      const apns = await drain(ctx, database, tenants, 'apns', SIZE.perPath);
      const fcm = await drain(ctx, database, tenants, 'fcm', SIZE.perPath);
      log('2. ceilings: bare HTTP/2 and HTTPS clients to the peers, bare kafkajs drain');
      const ceiling = await ceilings(ctx, tenants[0], mixed.topic, Math.min(SIZE.ceiling, SIZE.mixed));
      figures.throughput = { mixed, apns, fcm };
      figures.ceilings = ceiling;
    }
    if (runs('latency')) {
      log(`3. latency: ${SIZE.rates.join(' and ')} pushes/s for ${SIZE.seconds} s each`);
      figures.latency = await latencyUnderLoad(ctx, database, tenants, SIZE.rates, SIZE.seconds);
    }
    if (runs('reload')) {
      log(`4. hot reload: ${SIZE.patches} key replacements under a 500/s stream`);
      figures.reload = await hotReload(ctx, database, tenants[1], SIZE.patches);
    }
    if (runs('tenants')) {
      log(`5. tenants: ${SIZE.manyTenants} configured, ${SIZE.active} active`);
      figures.tenants = await manyTenants(ctx, SIZE.manyTenants, SIZE.active);
    }
    if (runs('admin')) {
      log(`6. admin API: autocannon, 50 connections, ${SIZE.adminSeconds} s per route`);
      figures.adminApi = await adminApi(ctx, SIZE.adminSeconds);
    }
    if (runs('profile')) {
      log(`7. profile: ${SIZE.profiled} APNs requests drained under the CPU profiler`);
      // A quick run's flame graph stays out of the committed results.
      const outDir = quick ? ctx.stateDir : resolve('bench', 'results');
      figures.profile = await profiledDrain(ctx, database, tenants, SIZE.profiled, outDir);
    }
  } finally {
    await ctx.stopAll();
    peers.stop();
    await ctx.cleanUp().catch((error: Error) => log(`could not drop this run's data: ${error.message}`));
  }
  // A full run of some scenarios keeps the other scenarios' figures from the last full run.
  const latest = resolve('bench', 'results', 'latest.json');
  if (!quick && only && existsSync(latest)) {
    const previous = JSON.parse(readFileSync(latest, 'utf8')) as Record<string, unknown>;
    for (const [key, value] of Object.entries(previous))
      if (!(key in figures) && key !== 'targets') figures[key] = value;
    figures.partial = `${only.join(', ')} measured at ${String(figures.at)}; the rest at ${String(previous.at)}`;
  }
  const verdicts = evaluate(figures);
  printTable(figures, verdicts);
  const dir = resolve('bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, quick ? 'quick.json' : 'latest.json'),
    `${JSON.stringify({ ...figures, targets: verdicts }, null, 2)}\n`,
  );
  if (!quick) writeReport(dir, figures, verdicts);
  log(`figures written to ${join('bench', 'results', quick ? 'quick.json' : 'latest.json')}`);
}

main()
  .then(() => process.exit(0))
  .catch((error: Error) => {
    process.stderr.write(`[bench] failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
