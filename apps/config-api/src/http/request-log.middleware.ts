import { Injectable, Logger, NestMiddleware } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { actorOf, Principal } from '../auth/principal';
import { clientAddress } from './client-address';
import type { RequestWithId } from './request-id';

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Gives every request an id (the caller's X-Request-Id when it is sane), echoes it, and logs one line
 * per request with it: never the body or the Authorization header.
 */
@Injectable()
export class RequestLogMiddleware implements NestMiddleware {
  private readonly logger = new Logger('Http');

  use(request: Request, response: Response, next: NextFunction): void {
    const offered = request.headers['x-request-id'];
    const requestId = typeof offered === 'string' && REQUEST_ID.test(offered) ? offered : randomUUID();
    response.setHeader('X-Request-Id', requestId);
    (request as RequestWithId).requestId = requestId;
    const started = process.hrtime.bigint();
    response.on('finish', () => {
      this.logger.log({
        msg: 'request',
        request_id: requestId,
        method: request.method,
        route: (request.route as { path?: string } | undefined)?.path ?? 'unmatched',
        status: response.statusCode,
        client_ip: clientAddress(request),
        // Set once the token was verified: who asked, for which tenant (reads and refusals included).
        ...principalFields((request as { principal?: Principal }).principal),
        duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  }
}

function principalFields(principal: Principal | undefined): { actor?: string | null; tenant?: string } {
  return principal ? { actor: actorOf(principal), tenant: principal.tenant } : {};
}
