import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../support/context';
import { CpuBreakdown, CpuProfile, flameGraphSvg, summarize } from '../support/cpu-profile';
import { drain } from './throughput';

export interface ProfileFigures extends CpuBreakdown {
  path: 'apns';
  requests: number;
  /** The drain rate under the profiler, of a smaller drain than scenario 1's: not a throughput figure. */
  pushesPerSecondProfiled: number;
  flameGraph: string;
}

/**
 * Where a push's CPU goes: scenario 1's APNs drain again, the dispatcher under V8's sampling profiler
 * (`--cpu-prof`). Only the samples from its first push to its last count. Writes the flame graph to
 * `outDir` and returns the breakdown by category and the hottest functions.
 */
export async function profiledDrain(
  ctx: BenchContext,
  database: string,
  tenants: string[],
  count: number,
  outDir: string,
): Promise<ProfileFigures> {
  const profileDir = join(ctx.stateDir, 'profiles', ctx.runId);
  mkdirSync(profileDir, { recursive: true });
  const drained = await drain(ctx, database, tenants, 'apns', count, {
    scenario: 'profile-apns',
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
  });
  const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`the profiled dispatcher wrote no .cpuprofile in ${profileDir}`);
  const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile;
  // The profile's clock starts with the process (a few tens of ms after it was spawned): close enough
  // to cut start-up and shutdown from a drain of seconds.
  const { dispatcherStartedAt, firstPushAt, lastPushAt } = drained.times;
  const window = { fromMs: firstPushAt - dispatcherStartedAt, toMs: lastPushAt - dispatcherStartedAt };
  const flameGraph = 'flame-apns.svg';
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    join(outDir, flameGraph),
    flameGraphSvg(
      profile,
      `Dispatcher CPU while draining ${count} APNs requests (node --cpu-prof; callers above callees, width = share of busy samples)`,
      window,
    ),
  );
  return {
    path: 'apns',
    requests: count,
    pushesPerSecondProfiled: drained.pushesPerSecond,
    flameGraph,
    ...summarize(profile, window),
  };
}
