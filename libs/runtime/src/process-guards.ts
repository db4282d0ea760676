import { Logger } from '@nestjs/common';

/**
 * A stray rejection inside an SDK (firebase-admin's HTTP/2 session has produced some) must not take
 * every tenant's pushes down with it: log it loudly and keep serving.
 */
/** Runs an app's bootstrap; a bad environment ends the process with the list of what to fix, not a stack. */
export function runApp(bootstrap: () => Promise<void>): void {
  logUnhandledRejections();
  bootstrap().catch((error: Error) => {
    process.stderr.write(
      `${error.name === 'InvalidEnvironmentError' ? error.message : (error.stack ?? error.message)}\n`,
    );
    process.exit(1);
  });
}

function logUnhandledRejections(): void {
  process.on('unhandledRejection', (reason) => {
    new Logger('Process').error(
      `unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`,
    );
  });
}
