import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError, ErrorDetail } from '../errors/api-error';
import { shownFieldName } from './shown-field-name';

/**
 * Strict input: unknown fields anywhere are errors, and each problem names its field by its dotted path.
 * `responseOnly`: the paths of fields answers show, which a body copied from one holds; they are named
 * as such, so the caller knows to leave them out rather than wonder what is wrong with them.
 */
export function strictValidationPipe(responseOnly: ReadonlySet<string> = new Set()): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => ApiError.validation(flattenValidationErrors(errors, '', responseOnly)),
  });
}

export function flattenValidationErrors(
  errors: ValidationError[],
  parent = '',
  responseOnly: ReadonlySet<string> = new Set(),
): ErrorDetail[] {
  return errors.flatMap((error) => {
    const name = shownFieldName(error.property);
    const path = parent ? `${parent}.${name}` : name;
    const constraints = error.constraints ?? {};
    const details: ErrorDetail[] = [];
    const wrongType = TYPE_CHECKS.find((check) => constraints[check]);
    if (constraints.whitelistValidation)
      details.push({
        path,
        message: responseOnly.has(path)
          ? 'is read-only: answers show it, requests leave it out'
          : 'is not an allowed field',
      });
    else if (constraints.isDefined) details.push({ path, message: constraints.isDefined });
    // A value of the wrong type fails the checks of the right type too (a string "exceeds 1000
    // elements"); only its type is worth telling.
    else if (wrongType) details.push({ path, message: strip(constraints[wrongType], error.property) });
    else
      for (const message of Object.values(constraints))
        details.push({ path, message: strip(message, error.property) });
    // The fields inside a value of the wrong type say nothing more (an array where settings go).
    return wrongType
      ? details
      : [...details, ...flattenValidationErrors(error.children ?? [], path, responseOnly)];
  });
}

const TYPE_CHECKS = ['isArray', 'isObject', 'isBoolean', 'isString', 'isInt'];

/** class-validator starts its messages with the property's name; the path already says it. */
function strip(message: string, property: string): string {
  return message.startsWith(`${property} `) ? message.slice(property.length + 1) : message;
}
