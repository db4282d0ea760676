import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';
import type { ApiErrorBody, ErrorDetail } from './api-error';

/** ApiErrorBody for the OpenAPI document. */
class ErrorDetailView implements ErrorDetail {
  @ApiProperty({ example: 'settings.apns.key_id', description: 'The field, as a dotted path.' })
  path!: string;
  @ApiProperty({ example: 'must be the 10-character key id (A-Z, 0-9) shown with the key at Apple' })
  message!: string;
}

export class ApiErrorResponse implements ApiErrorBody {
  @ApiProperty({ example: 400 }) status!: number;
  @ApiProperty({ example: 'validation_error', description: 'Stable, for programs.' }) error!: string;
  @ApiProperty({ description: 'For people: what went wrong and what to do.' }) error_description!: string;
  @ApiPropertyOptional({
    type: [ErrorDetailView],
    description:
      'One per problem (400), at most 50 (error_description then says how many there were). An unknown field name over 40 characters is shown cut short.',
  })
  details?: ErrorDetailView[];
  @ApiPropertyOptional({ description: 'Only on 500: quote it to support; the log has the cause.' })
  error_id?: string;
}

const WHEN: Record<number, string> = {
  400: 'The body or query is invalid: `details[].path` names each field.',
  401: 'No valid bearer token (see WWW-Authenticate).',
  403: 'The token lacks the scope of this operation.',
  404: 'No such configuration, or no such MFA type.',
  409: 'It exists already: change it with PATCH.',
  412: 'If-Match names a version the configuration is no longer at: read it again (see ETag).',
  413: 'The body is larger than the limit (API_BODY_LIMIT_BYTES).',
  415: 'The body is not sent as application/json, or in a charset or Content-Encoding the API cannot read (send UTF-8, uncompressed or gzip).',
  429: 'Too many requests from this client: see Retry-After.',
  503: 'The configuration store cannot take the request now; nothing changed: see Retry-After.',
  500: 'A fault on our side: quote error_id.',
};

/** 503 of a route that writes: the store may have failed after the write. */
export const WRITE_UNAVAILABLE =
  'The configuration store cannot take the request now. With Retry-After, nothing changed: retry then. Without it, the store did not confirm the write and the change may have been saved: read the configuration before sending it again.';

/**
 * Documents the error answers of a route (500 included), all in the one error shape; `specific`
 * overrides a description.
 */
export function ApiErrorResponses(statuses: number[], specific: Record<number, string> = {}) {
  return applyDecorators(
    ...[...statuses, 500].map((status) =>
      ApiResponse({ status, description: specific[status] ?? WHEN[status], type: ApiErrorResponse }),
    ),
  );
}
