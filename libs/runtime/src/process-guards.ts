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

/**
 * Runs an app: a bad environment ends the process with the list of what to fix (not a stack), and
 * SIGTERM/SIGINT turn readiness red, wait `drainMs`, then close the app (consumers stop taking work,
 * in-flight work finishes, producers flush, clients close) and exit 0, or 1 after `graceMs`. The
 * handlers are there from the first line: as a container's first process, Node would ignore a signal
 * that arrives during a slow start-up.
 */
export function runApp(
  bootstrap: () => Promise<{ app: INestApplicationContext; shutdown: ShutdownSettings }>,
): void {
  logUnhandledRejections();
  const logger = new Logger('Shutdown');
  let started: { app: INestApplicationContext; shutdown: ShutdownSettings } | undefined;
  let signal: string | undefined;
  const onSignal = (received: string) => {
    if (signal) {
      // The same signal again (an impatient Ctrl-C) stops at once, as Node's own handling would; another
      // one (a script's SIGTERM after the terminal's SIGINT) is the same request.
      if (received === signal) process.exit(1);
      return;
    }
    signal = received;
    draining = true;
    if (started) void stop(started.app, started.shutdown, signal, logger);
    else logger.log(`${received} during start-up: stopping as soon as the app has started`);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  bootstrap()
    .then((result) => {
      started = result;
      if (signal) void stop(result.app, result.shutdown, signal, logger);
    })
    .catch((error: Error) => {
      // Errors that say what to fix need no stack; anything else is a bug and keeps it.
      const explained = ['InvalidEnvironmentError', 'MissingTopicsError'].includes(error.name);
      const text = explained ? error.message : (error.stack ?? error.message);
      process.stderr.write(`${redactSecrets(text)}\n`);
      process.exit(1);
    });
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
  const timer = setTimeout(() => {
    logger.error(`in-flight work did not finish within ${graceMs} ms; exiting anyway`);
    process.exit(1);
  }, graceMs);
  timer.unref();
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
function logUnhandledRejections(): void {
  process.on('unhandledRejection', (reason) => {
    new Logger('Process').error(
      `unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`,
    );
  });
}
