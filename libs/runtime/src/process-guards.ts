import { Logger, type INestApplicationContext } from '@nestjs/common';
import { redactSecrets } from './json-logger';

export interface ShutdownSettings {
  /** How long the app keeps serving, red, before it closes (load balancers stop routing to it meanwhile). */
  drainMs: number;
  /** How long in-flight work may take to finish once closing started, before the process exits with 1. */
  graceMs: number;
}

let draining = false;

/** True once a signal asked the process to stop: readiness answers red from then on. */
export function isDraining(): boolean {
  return draining;
}

/** How close together two equal signals are one request (a terminal's Ctrl-C, and npm passing it on). */
const SAME_REQUEST_MS = 2000;

/**
 * Runs an app: a bad environment ends the process with the list of what to fix (not a stack), and
 * SIGTERM/SIGINT turn readiness red, wait `drainMs`, then close the app (consumers stop taking work,
 * in-flight work finishes, producers flush, clients close) and exit 0, or 1 after `graceMs`. The
 * handlers are there before the app starts: as a container's first process, Node would ignore a
 * signal during a slow start-up. Such a signal stops the app once it has started, or exits 1 if
 * start-up outlasts the grace period.
 */
export function runApp<Config extends { shutdown: ShutdownSettings }>(
  loadConfig: () => Config,
  start: (config: Config) => Promise<INestApplicationContext>,
): void {
  logStrayErrors();
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    return exitOnStartFailure(error as Error);
  }
  const logger = new Logger('Shutdown');
  let app: INestApplicationContext | undefined;
  let first: { signal: string; at: number } | undefined;
  const onSignal = (signal: string) => {
    if (first) {
      // The same signal again, later (an impatient Ctrl-C), stops at once, as Node's own handling
      // would; anything else is the same request come twice.
      if (signal === first.signal && Date.now() - first.at > SAME_REQUEST_MS) process.exit(1);
      return;
    }
    first = { signal, at: Date.now() };
    draining = true;
    if (app) return void stop(app, config.shutdown, signal, logger);
    logger.log(`${signal} during start-up: stopping once the app has started`);
    exitAfter(config.shutdown.drainMs + config.shutdown.graceMs, 'start-up and shutdown', logger);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  start(config)
    .then((started) => {
      app = started;
      if (first) void stop(started, config.shutdown, first.signal, logger);
    })
    .catch(exitOnStartFailure);
}

function exitOnStartFailure(error: Error): never {
  // Errors that say what to fix need no stack; anything else is a bug and keeps it.
  const explained = ['InvalidEnvironmentError', 'MissingTopicsError', 'KeyringMismatchError'].includes(
    error.name,
  );
  const text = explained ? error.message : (error.stack ?? error.message);
  process.stderr.write(`${redactSecrets(text)}\n`);
  process.exit(1);
}

/** Exits 1 once `ms` have passed, unless the process ended before. */
function exitAfter(ms: number, what: string, logger: Logger): void {
  setTimeout(() => {
    logger.error(`${what} did not finish within ${ms} ms; exiting anyway`);
    process.exit(1);
  }, ms).unref();
}

async function stop(
  app: INestApplicationContext,
  { drainMs, graceMs }: ShutdownSettings,
  signal: string,
  logger: Logger,
): Promise<void> {
  if (drainMs > 0) {
    logger.log(`${signal}: not ready; serving ${drainMs} ms more while load balancers stop routing here`);
    await new Promise((resolve) => setTimeout(resolve, drainMs));
  }
  logger.log(`${signal}: finishing in-flight work, then exiting`);
  exitAfter(graceMs, 'in-flight work', logger);
  try {
    await app.close();
    process.exit(0);
  } catch (error) {
    logger.error(`shutdown failed: ${(error as Error).message}`);
    process.exit(1);
  }
}

/**
 * A stray rejection inside an SDK (firebase-admin's HTTP/2 session has produced some) must not take
 * every tenant's pushes down with it: log it loudly and keep serving.
 */
function logStrayErrors(): void {
  process.on('unhandledRejection', (reason) => {
    new Logger('Process').error(
      `unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`,
    );
  });
  // Node would print the error with util.inspect, every field of it unredacted, to stderr: log it
  // through the app's logger instead, then exit as Node would.
  process.on('uncaughtException', (error) => {
    // Anything can be thrown, null included.
    new Logger('Process').fatal(`uncaught exception: ${(error as Error | null)?.stack ?? String(error)}`);
    process.exit(1);
  });
}
