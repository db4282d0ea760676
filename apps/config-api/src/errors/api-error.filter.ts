import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { ApiError } from './api-error';
import { isStoreBusy, isStoreUnavailable, mayHaveWritten } from './store-errors';

const STATUS_ERRORS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
};

/** The single place errors become responses: one body shape, and an error id logged with every 500. */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ApiError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const error = this.toApiError(exception, host.switchToHttp().getRequest<Request>().method);
    for (const [name, value] of Object.entries(error.headers)) response.setHeader(name, value);
    response.status(error.status).json(error.toBody());
  }

  private toApiError(exception: unknown, method: string): ApiError {
    if (exception instanceof ApiError) return exception;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const description =
        status === 404 ? 'No such route. The MFA API lives at /mfa and /api/v1/mfa.' : exception.message;
      return new ApiError(status, STATUS_ERRORS[status] ?? 'error', description);
    }
    if (!['GET', 'HEAD'].includes(method) && mayHaveWritten(exception))
      return this.storeRefused(
        exception,
        'The configuration store did not confirm this change: it may have been saved. Read the configuration (GET) before sending it again.',
      );
    if (isStoreUnavailable(exception))
      return this.storeRefused(
        exception,
        'The configuration store is unreachable; nothing was changed. Retry in a few seconds.',
        5,
      );
    if (isStoreBusy(exception))
      return this.storeRefused(
        exception,
        'The configuration store is busy with other writes; this request changed nothing. Retry in a second.',
        1,
      );
    const errorId = randomUUID();
    this.logger.error(
      `unhandled error ${errorId}`,
      exception instanceof Error ? exception.stack : String(exception),
    );
    const error = new ApiError(
      500,
      'internal_error',
      `Something went wrong on our side. Quote error id ${errorId}.`,
    );
    error.errorId = errorId;
    return error;
  }

  /** The store could not take the request now: 503, with when to retry if it may, never its internals. */
  private storeRefused(exception: unknown, description: string, retryAfterSeconds?: number): ApiError {
    this.logger.warn(`configuration store refused a request: ${(exception as Error).message}`);
    // No Retry-After when a write may have been saved: a client must read before it sends again.
    const headers: Record<string, string> =
      retryAfterSeconds === undefined ? {} : { 'Retry-After': String(retryAfterSeconds) };
    return new ApiError(503, 'service_unavailable', description, undefined, headers);
  }
}
