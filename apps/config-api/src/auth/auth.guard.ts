import { CanActivate, createParamDecorator, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ApiError } from '../errors/api-error';
import type { Principal } from './principal';
import { REQUIRED_SCOPE } from './scopes.decorator';
import { TokenVerifier } from './token-verifier';

type AuthenticatedRequest = Request & { principal?: Principal };

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: TokenVerifier,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const scope = this.reflector.get<string | undefined>(REQUIRED_SCOPE, context.getHandler());
    if (!scope) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const principal = await this.verifier.verify(request.headers.authorization);
    // Before the scope check, so the request log names who was refused too.
    request.principal = principal;
    if (!principal.scopes.has(scope))
      throw new ApiError(403, 'insufficient_scope', `This operation needs the scope ${scope}.`, undefined, {
        'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scope}"`,
      });
    return true;
  }
}

/** The verified caller of a scoped route. */
export const CurrentPrincipal = createParamDecorator((_: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (!principal) throw new Error('CurrentPrincipal used on a route without RequireScope');
  return principal;
});
