import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { json } from 'express';
import type { Request, Response } from 'express';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { ApiError } from '../errors/api-error';
import { bodyShapeProblem } from './json-body-shape';

type BodyParserError = Error & { type?: string; status?: number; body?: string };

/** Fails on the first byte sequence that is not UTF-8, where Node's decoding would put U+FFFD. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const NOT_UTF8 = 'entity.not.utf8';

/**
 * JSON is UTF-8 (RFC 8259), and the parser would otherwise take any other bytes as U+FFFD: a client id
 * pasted from a Latin-1 or Windows-1252 editor ("café") would be stored as another one, and the
 * answer would be 200.
 */
function verifyUtf8(_request: unknown, _response: unknown, body: Buffer): void {
  try {
    strictUtf8.decode(body);
  } catch {
    // With a status: body-parser answers a verify error without one with 403.
    throw Object.assign(new Error('not UTF-8'), { status: 400, type: NOT_UTF8 });
  }
}

/**
 * Parses JSON bodies and turns every way a body can be wrong (not JSON, too large, another content
 * type, a shape no validator should see: see json-body-shape.ts) into the API's error shape, so that no
 * bad body reaches a handler or becomes a 500.
 *
 * A guard of the routes that take a body (other routes ignore one) rather than a middleware: global
 * guards (the token check) run first, so a caller without a valid token learns nothing from the body
 * checks and gets 401.
 */
@Injectable()
export class JsonBodyGuard implements CanActivate {
  private readonly parse: ReturnType<typeof json>;
  private readonly limitBytes: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.limitBytes = config.api.bodyLimitBytes;
    this.parse = json({ limit: this.limitBytes, strict: true, type: () => true, verify: verifyUtf8 });
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    const response = context.switchToHttp().getResponse<Response>();
    const hasBody =
      Number(request.headers['content-length'] ?? 0) > 0 ||
      request.headers['transfer-encoding'] !== undefined;
    if (!hasBody) return true;
    const contentType = request.headers['content-type'] ?? '';
    if (!/^application\/([a-z.+-]*\+)?json\s*(;|$)/i.test(contentType))
      throw new ApiError(
        415,
        'unsupported_media_type',
        `Send the body as JSON with Content-Type: application/json (got "${contentType || 'none'}").`,
      );
    await new Promise<void>((resolve, reject) =>
      this.parse(request, response, (error?: BodyParserError) =>
        error ? reject(this.describe(error)) : resolve(),
      ),
    );
    const problem = bodyShapeProblem(request.body);
    if (problem) throw ApiError.validation([problem]);
    return true;
  }

  private describe(error: BodyParserError): ApiError {
    if (error.type === 'entity.too.large')
      return new ApiError(413, 'payload_too_large', `The body is larger than ${this.limitBytes} bytes.`);
    if (error.type === NOT_UTF8)
      return new ApiError(
        400,
        'invalid_json',
        'The body is not valid JSON: it is not UTF-8 (an editor that saved it as Latin-1 or Windows-1252 does this to characters such as "é"); send it encoded as UTF-8.',
      );
    // Strict parsing refuses JSON that is not an object or array (null, 42, "x") as if it did not parse.
    const scalar = error.type === 'entity.parse.failed' ? parsedJson(error.body) : undefined;
    if (scalar) return ApiError.validation([bodyShapeProblem(scalar.value)!]);
    if (error.type === 'entity.parse.failed')
      return new ApiError(
        400,
        'invalid_json',
        `The body is not valid JSON: ${jsonSyntaxProblem(error.message)}.`,
      );
    // A charset or Content-Encoding the parser does not take is the media type's fault, not the body's.
    if (error.status === 415)
      return new ApiError(
        415,
        'unsupported_media_type',
        `The body could not be read: ${error.message}; send it as UTF-8 JSON, uncompressed or gzip.`,
      );
    return new ApiError(error.status ?? 400, 'invalid_body', `The body could not be read: ${error.message}.`);
  }
}

/** The body's value, when it is JSON after all. */
function parsedJson(body: string | undefined): { value: unknown } | undefined {
  if (body === undefined) return undefined;
  try {
    return { value: JSON.parse(body) as unknown };
  } catch {
    return undefined;
  }
}

/**
 * Where the JSON breaks, without quoting the body: V8's own message can quote text around the error
 * (such as the start of a private key sent with single quotes), which has no place in an answer.
 */
function jsonSyntaxProblem(message: string): string {
  const position = /at position (\d+)/.exec(message)?.[1];
  if (position !== undefined) return `it breaks at character ${position}`;
  if (/^Unexpected end/.test(message)) return 'it ends before its value does';
  const token = /^Unexpected token '(.)'/u.exec(message)?.[1];
  return token === undefined ? 'it does not parse' : `it has an unexpected ${JSON.stringify(token)}`;
}
