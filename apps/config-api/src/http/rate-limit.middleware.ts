import { Inject, Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { ApiError } from '../errors/api-error';
import { clientAddress } from './client-address';
import { RateLimiter } from './rate-limiter';

/** Probes and scrapes are never limited: a busy client must not make the API look down. */
const UNLIMITED = /^\/(health|metrics)(\/|$)/;

/**
 * Limits requests per client address before anything else is done for them (also before token
 * checks, so guessing tokens is slow too): 429 with Retry-After. Off when API_RATE_LIMIT_PER_MINUTE=0.
 */
@Injectable()
export class RateLimitMiddleware implements NestMiddleware {
  private readonly limiter?: RateLimiter;
  private readonly perMinute: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.perMinute = config.api.rateLimitPerMinute;
    if (this.perMinute > 0) this.limiter = new RateLimiter(this.perMinute, config.api.rateLimitBurst);
  }

  use(request: Request, _response: Response, next: NextFunction): void {
    if (!this.limiter || UNLIMITED.test(request.originalUrl)) return next();
    const admission = this.limiter.take(clientAddress(request));
    if (admission.ok) return next();
    throw new ApiError(
      429,
      'too_many_requests',
      `Too many requests from this client: at most ${this.perMinute} a minute. Retry after ${admission.retryAfterSeconds} s.`,
      undefined,
      { 'Retry-After': String(admission.retryAfterSeconds) },
    );
  }
}
