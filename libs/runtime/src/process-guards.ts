import { Logger, type INestApplicationContext } from '@nestjs/common';
import { redactSecrets } from './json-logger';

/** How long in-flight work may take to finish after SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 25_000;

/**
 * Runs an app: a bad environment ends the process with the list of what to fix (not a stack), and
 * SIGTERM/SIGINT close the app (consumers stop taking work, in-flight work finishes, producers flush,
 * clients close) and exit 0, or 1 if that took longer than the grace period.
 */
export function runApp(bootstrap: () => Promise<INestApplicationContext>): void {
  logUnhandledRejections();
  bootstrap()
    .then((app) => closeOnSignals(app))
    .catch((error: Error) => {
      // Errors that say what to fix need no stack; anything else is a bug and keeps it.
      const explained = ['InvalidEnvironmentError', 'MissingTopicsError'].includes(error.name);
      const text = explained ? error.message : (error.stack ?? error.message);
      process.stderr.write(`${redactSecrets(text)}\n`);
      process.exit(1);
    });
}

function closeOnSignals(app: INestApplicationContext): void {
  const logger = new Logger('Shutdown');
  let closing = false;
  const close = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.log(`${signal}: finishing in-flight work, then exiting`);
    const timer = setTimeout(() => {
      logger.error(`in-flight work did not finish within ${SHUTDOWN_GRACE_MS} ms; exiting anyway`);
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    app
      .close()
      .then(() => process.exit(0))
      .catch((error: Error) => {
        logger.error(`shutdown failed: ${error.message}`);
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => close('SIGTERM'));
  process.once('SIGINT', () => close('SIGINT'));
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
