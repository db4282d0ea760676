import type { LoggerService } from '@nestjs/common';
import pino, { Logger } from 'pino';

// Secrets that can hide inside free text (an SDK's error message, a stack): PEM blocks, JWTs, bearer tokens.
const PEM_BLOCK = /-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g;
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi;

/** Replaces key material and tokens in a line of text; structured fields are redacted by path. */
export function redactSecrets(text: string): string {
  return text.replace(PEM_BLOCK, '[redacted]').replace(JWT, '[redacted]').replace(BEARER, '$1 [redacted]');
}

/** Field names never logged, wherever they appear in a logged object. */
const REDACTED_PATHS = [
  'key',
  'private_key',
  'authorization',
  'token',
  'access_token',
  'context_token',
  'password',
].flatMap((name) => [name, `*.${name}`, `*.*.${name}`, `headers.${name}`]);

/**
 * Structured JSON logs (pino) for both apps, with secrets redacted by field name and in free text:
 * Nest, kafkajs and our own messages all pass through here.
 */
export class JsonLogger implements LoggerService {
  private readonly pino: Logger;

  constructor(level: string, app: string, destination?: pino.DestinationStream) {
    this.pino = pino(
      {
        level,
        base: { app },
        timestamp: pino.stdTimeFunctions.isoTime,
        redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
        formatters: { level: (label) => ({ level: label }) },
      },
      destination,
    );
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  /** Nest passes (message, context) or, for errors, (message, stack, context). */
  private write(level: pino.Level, message: unknown, rest: unknown[]): void {
    const context = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const stack = typeof rest[0] === 'string' ? redactSecrets(rest[0]) : undefined;
    const fields = { ...(context && { context }), ...(stack && { stack }) };
    if (message instanceof Error) {
      // Nest hands over the Error itself; its message and stack are not own enumerable fields.
      this.pino[level](
        { ...fields, stack: redactSecrets(message.stack ?? '') },
        redactSecrets(message.message),
      );
    } else if (message !== null && typeof message === 'object') {
      this.pino[level]({ ...fields, ...(message as object) });
    } else {
      this.pino[level](fields, redactSecrets(String(message)));
    }
  }
}
