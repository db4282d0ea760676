/**
 * `npm run test:chaos [-- --reduced] [-- --only=name,...] [-- --report]`: the fault and attack campaign. Real
 * processes (Kafka, FerretDB or MongoDB, the apps from their production build, the APNs/FCM peers) are
 * killed, stopped and attacked; every figure is printed, a full run rewrites docs/RELIABILITY.md, and the
 * exit code is 1 when a must-be-0 (or must-be-1) figure is not.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import os from 'node:os';
import { ChaosContext, ChaosSize, FULL, log, REDUCED } from './support/chaos-context';
import { failed, Figure, textTable } from './support/figures';
import { Run, writeReliabilityReport } from './support/report';
import { apiFuzz } from './scenarios/api-fuzz';
import { authAttacks } from './scenarios/auth-attacks';
import { brokerRestart } from './scenarios/broker-restart';
import { dispatcherKill } from './scenarios/dispatcher-kill';
import { peerFaults } from './scenarios/peer-faults';
import { pushAbuse } from './scenarios/push-abuse';
import { storeOutage } from './scenarios/store-outage';
import { configDuringKafkaOutage } from './scenarios/config-during-kafka-outage';
import { secretScan } from './scenarios/secret-scan';

type Scenario = (ctx: ChaosContext, size: ChaosSize) => Promise<Figure[]>;

/** In order: attacks first (cheap), faults after, the secret scan last (it reads what the others left). */
const SCENARIOS: [string, Scenario][] = [
  ['api-fuzz', apiFuzz],
  ['auth', authAttacks],
  ['push-abuse', pushAbuse],
  ['peer-faults', peerFaults],
  ['dispatcher-kill', dispatcherKill],
  ['broker-restart', brokerRestart],
  ['store-outage', storeOutage],
  ['config-kafka-outage', configDuringKafkaOutage],
  ['secret-scan', secretScan],
];

const args = process.argv.slice(2);
const size = args.includes('--reduced') ? REDUCED : FULL;
const only = args
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const unknown = only?.filter((name) => !SCENARIOS.some(([known]) => known === name)) ?? [];

async function main(): Promise<number> {
  // --report: rewrites docs/RELIABILITY.md from the last full run (after editing chaos/findings.md).
  if (args.includes('--report')) {
    const latest = JSON.parse(readFileSync(resolve('chaos', 'results', 'latest.json'), 'utf8')) as Run;
    writeReliabilityReport(resolve('docs', 'RELIABILITY.md'), latest);
    return 0;
  }
  if (unknown.length) {
    process.stderr.write(
      `[chaos] unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map(([n]) => n).join(', ')}\n`,
    );
    return 2;
  }
  const ctx = await ChaosContext.create();
  const figures: Figure[] = [];
  const started = Date.now();
  try {
    for (const [name, scenario] of SCENARIOS) {
      if (only && !only.includes(name)) continue;
      log(`${name}: starting`);
      const at = Date.now();
      try {
        figures.push(...(await scenario(ctx, size)));
      } catch (error) {
        // A scenario that cannot finish is a failure of the campaign, shown as such, not a crash.
        log(`${name} failed: ${(error as Error).stack ?? String(error)}`);
        figures.push({
          scenario: name,
          name: 'scenario finished',
          value: 1,
          expect: 'zero',
          note: 'see log',
        });
      } finally {
        await ctx.stopAll();
        // A fault scenario that failed half-way must not leave the servers down for the next one.
        ctx.server('kafka', 'start');
        ctx.server('mongo', 'start');
      }
      log(`${name}: done in ${Math.round((Date.now() - at) / 1000)} s`);
    }
  } finally {
    await ctx.stopAll();
    ctx.peers.stop();
    await ctx.cleanUp().catch((error: Error) => log(`could not drop this run's data: ${error.message}`));
  }
  const run: Run = {
    mode: size.reduced ? 'reduced' : 'full',
    at: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    machine: {
      cpus: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    size,
    figures,
  };
  process.stdout.write(`\n${textTable(figures)}\n\n`);
  const dir = resolve('chaos', 'results');
  mkdirSync(dir, { recursive: true });
  if (!size.reduced) {
    // Scenarios left out by --only keep their figures from the last full run.
    const latest = join(dir, 'latest.json');
    let written = run;
    if (only && existsSync(latest)) {
      const previous = JSON.parse(readFileSync(latest, 'utf8')) as Run;
      const kept = previous.figures.filter((figure) => !only.includes(figure.scenario));
      // Still the full run's, with these scenarios' figures replaced, and said so.
      const rerun = { scenarios: only, at: run.at, seconds: run.seconds };
      // An earlier re-run of these scenarios no longer has figures here.
      const earlier = (previous.reruns ?? [])
        .map((run) => ({ ...run, scenarios: run.scenarios.filter((name) => !only.includes(name)) }))
        .filter((run) => run.scenarios.length > 0);
      written = { ...previous, figures: [...kept, ...figures], reruns: [...earlier, rerun] };
    }
    writeFileSync(latest, `${JSON.stringify(written, null, 2)}\n`);
    writeReliabilityReport(resolve('docs', 'RELIABILITY.md'), written);
    log('figures written to chaos/results/latest.json and docs/RELIABILITY.md');
  }
  const failures = figures.filter(failed);
  log(
    failures.length
      ? `FAILED: ${failures.map((f) => `${f.scenario}: ${f.name} = ${f.value}`).join('; ')}`
      : `passed: ${figures.length} figures, every must-be-0 figure is 0 (${run.seconds} s)`,
  );
  return failures.length ? 1 : 0;
}

main()
  .then((code) => process.exit(code))
  .catch((error: Error) => {
    process.stderr.write(`[chaos] failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
