import { SetMetadata } from '@nestjs/common';

export const REQUIRED_SCOPE = 'auth:required-scope';

/** The OAuth2 scope a route needs; routes without it are public (health, docs). */
export const RequireScope = (scope: string) => SetMetadata(REQUIRED_SCOPE, scope);
