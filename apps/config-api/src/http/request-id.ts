import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';

export type RequestWithId = Request & { requestId?: string };

/** The id RequestLogMiddleware gave the request: the caller's X-Request-Id, or one of ours. */
export const RequestId = createParamDecorator(
  (_: unknown, context: ExecutionContext): string | undefined =>
    context.switchToHttp().getRequest<RequestWithId>().requestId,
);
