import type { LoggerService } from '@nestjs/common';
import pino, { Logger } from 'pino';

// Secrets that can hide inside free text (an SDK's error message, a stack): PEM blocks, JWTs, bearer tokens.
const PEM_BLOCK = /-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g;
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
// A password in a connection string (mongodb://user:password@host).
const URI_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s/@]*@/gi;

/** Replaces key material and tokens in a line of text; structured fields are redacted by name (`redactObject`). */
export function redactSecrets(text: string): string {
  return text
    .replace(PEM_BLOCK, '[redacted]')
    .replace(JWT, '[redacted]')
    .replace(BEARER, '$1 [redacted]')
    .replace(URI_PASSWORD, '$1:[redacted]@');
}

/** Field names never logged, wherever they appear in a logged object. */
const SECRET_FIELDS = new Set([
  'key',
  'private_key',
  'privatekey',
  'encryptionkeys',
  'mfa_encryption_keys',
  'authorization',
  'token',
  'access_token',
  'context_token',
  'password',
]);
const REDACTED = '[redacted]';
/** Deeper than any line we write; an object nested further is summarised, not walked. */
const MAX_DEPTH = 8;

/**
 * A copy of a logged object with secret fields masked and secrets in its text redacted, at any depth:
 * an SDK's error object or a request's options can carry a key several levels down.
 */
function redactObject(value: unknown, depth = 0, walking = new Set<object>()): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (depth >= MAX_DEPTH || walking.has(value)) return '[…]';
  walking.add(value);
  const copy =
    value instanceof Error
      ? {
          // What pino writes of an error, its own fields (code, errno…) and cause included.
          type: value.name,
          message: redactSecrets(value.message),
          stack: redactSecrets(value.stack ?? ''),
          ...(redactFields({ ...value }, depth, walking) as object),
          ...(value.cause !== undefined && { cause: redactObject(value.cause, depth + 1, walking) }),
        }
      : typeof (value as { toJSON?: unknown }).toJSON === 'function'
        ? redactObject((value as { toJSON(): unknown }).toJSON(), depth + 1, walking)
        : Array.isArray(value)
          ? value.map((item) => redactObject(item, depth + 1, walking))
          : redactFields(value, depth, walking);
  walking.delete(value);
  return copy;
}

function redactFields(value: object, depth: number, walking: Set<object>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(value).map(([name, field]) => [
      name,
      SECRET_FIELDS.has(name.toLowerCase()) ? REDACTED : redactObject(field, depth + 1, walking),
    ]),
  );
}

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
    // A lone string after the message may be a stack rather than a context: redacted either way.
    const last = rest[rest.length - 1];
    const context = typeof last === 'string' ? redactSecrets(rest.pop() as string) : undefined;
    const stack = typeof rest[0] === 'string' ? redactSecrets(rest[0]) : undefined;
    const fields = { ...(context && { context }), ...(stack && { stack }) };
    if (message instanceof Error) {
      // Nest hands over the Error itself; its message and stack are not own enumerable fields.
      this.pino[level](
        { ...fields, stack: redactSecrets(message.stack ?? '') },
        redactSecrets(message.message),
      );
    } else if (message !== null && typeof message === 'object') {
      this.pino[level]({ ...fields, ...(redactObject(message) as object) });
    } else {
      this.pino[level](fields, redactSecrets(String(message)));
    }
  }
}
