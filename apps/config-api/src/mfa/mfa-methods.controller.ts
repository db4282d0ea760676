import { All, Controller } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ApiError } from '../errors/api-error';

function methodNotAllowed(allowed: string[]): ApiError {
  return new ApiError(405, 'method_not_allowed', `This route takes ${allowed.join(', ')} only.`, undefined, {
    Allow: allowed.join(', '),
  });
}

/**
 * Another method on an MFA route answers 405 with the methods it takes (RFC 9110), not the 404 that
 * says the route does not exist. Registered after MfaController, whose routes are matched first; the
 * lists follow that controller's handlers (HEAD is served as GET).
 */
@ApiExcludeController()
@Controller(['mfa', 'api/v1/mfa'])
export class MfaMethodsController {
  @All()
  collection(): never {
    throw methodNotAllowed(['GET', 'HEAD', 'POST']);
  }

  @All(':type')
  configuration(): never {
    throw methodNotAllowed(['GET', 'HEAD', 'PATCH', 'DELETE']);
  }
}
