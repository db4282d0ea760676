import type { Connection } from 'mongoose';
import type { Admin } from 'kafkajs';
import { isDraining } from './process-guards';

export type CheckState = 'up' | 'down';
export interface Readiness {
  ready: boolean;
  checks: Record<string, CheckState>;
  /** Present once a signal asked the process to stop: red whatever the checks say. */
  stopping?: true;
}

const CHECK_TIMEOUT_MS = 2000;

/** The promise's value, or undefined when it fails or takes longer than `ms`: for scrapes that must not stall. */
export async function within<T>(promise: Promise<T>, ms = CHECK_TIMEOUT_MS): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A check that does not decide readiness is only named in the answer: it gets less time, so a
 * dependency that is down does not make the probe itself slower than an orchestrator waits (1 s by
 * default in Kubernetes), which would fail it as surely as a red answer.
 */
const INFORMATIONAL_CHECK_TIMEOUT_MS = 300;

/** Whether a dependency answers within two seconds (or `ms`): a readiness probe must never hang. */
export async function probe(check: () => Promise<unknown>, ms = CHECK_TIMEOUT_MS): Promise<CheckState> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'up';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

export const mongoCheck = (connection: Connection) => () => connection.db!.admin().ping();

/** Kafka is up when the cluster answers a metadata request; the admin client reconnects on its own. */
export function kafkaCheck(admin: Admin): () => Promise<unknown> {
  let connected: Promise<void> | undefined;
  return async () => {
    connected ??= admin.connect().catch((error: Error) => {
      connected = undefined;
      throw error;
    });
    await connected;
    await admin.describeCluster();
  };
}

/**
 * Ready when every check `gating` names is up (all by default); the answer names each check's state, so
 * a red probe says what is down, and a green one what is down without stopping this app's work.
 */
export async function readiness(
  checks: Record<string, () => Promise<unknown>>,
  gating: string[] = Object.keys(checks),
): Promise<Readiness> {
  const names = Object.keys(checks);
  const states = await Promise.all(
    names.map((name) =>
      probe(checks[name], gating.includes(name) ? CHECK_TIMEOUT_MS : INFORMATIONAL_CHECK_TIMEOUT_MS),
    ),
  );
  const result = Object.fromEntries(names.map((name, i) => [name, states[i]]));
  if (isDraining()) return { ready: false, checks: result, stopping: true };
  return { ready: gating.every((name) => result[name] === 'up'), checks: result };
}
