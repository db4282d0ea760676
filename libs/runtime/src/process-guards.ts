import { Logger } from '@nestjs/common';

/**
 * A stray rejection inside an SDK (firebase-admin's HTTP/2 session has produced some) must not take
 * every tenant's pushes down with it: log it loudly and keep serving.
 */
export function logUnhandledRejections(): void {
  process.on('unhandledRejection', (reason) => {
    new Logger('Process').error(
      `unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`,
    );
  });
}
