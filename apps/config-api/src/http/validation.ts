import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError, ErrorDetail } from '../errors/api-error';

/** Strict input: unknown fields anywhere are errors, and each problem names its field by its dotted path. */
export function strictValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => ApiError.validation(flattenValidationErrors(errors)),
  });
}

export function flattenValidationErrors(errors: ValidationError[], parent = ''): ErrorDetail[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const constraints = error.constraints ?? {};
    const details: ErrorDetail[] = [];
    if (constraints.whitelistValidation) details.push({ path, message: 'is not an allowed field' });
    else if (constraints.isDefined) details.push({ path, message: constraints.isDefined });
    else
      for (const message of Object.values(constraints))
        details.push({
          path,
          message: message.startsWith(`${error.property} `)
            ? message.slice(error.property.length + 1)
            : message,
        });
    return [...details, ...flattenValidationErrors(error.children ?? [], path)];
  });
}
