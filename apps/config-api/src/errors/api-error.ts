export interface ErrorDetail {
  path: string;
  message: string;
}

/** The one error body of the API: {status, error, error_description, details}. */
export interface ApiErrorBody {
  status: number;
  error: string;
  error_description: string;
  details?: ErrorDetail[];
  error_id?: string;
}

const MAX_NAMED_FIELDS = 10;
const MAX_DETAILS = 50;

/** An error the API answers with as it is; anything else becomes a logged 500 with an error id. */
export class ApiError extends Error {
  /** Set on 500s: logged with the cause, so support can find it from the response. */
  errorId?: string;

  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly details?: ErrorDetail[],
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }

  /** 400 naming the fields; a body with very many problems gets the first of them, not an answer larger than itself. */
  static validation(details: ErrorDetail[]): ApiError {
    const fields = [...new Set(details.map((detail) => detail.path))];
    const named = fields.slice(0, MAX_NAMED_FIELDS).join(', ');
    const more = fields.length > MAX_NAMED_FIELDS ? ` and ${fields.length - MAX_NAMED_FIELDS} more` : '';
    const listed =
      details.length > MAX_DETAILS
        ? ` The first ${MAX_DETAILS} of ${details.length} problems are listed.`
        : '';
    return new ApiError(
      400,
      'validation_error',
      `The request is invalid: check ${named}${more}.${listed}`,
      details.slice(0, MAX_DETAILS),
    );
  }

  toBody(): ApiErrorBody {
    return {
      status: this.status,
      error: this.error,
      error_description: this.description,
      ...(this.details && { details: this.details }),
      ...(this.errorId && { error_id: this.errorId }),
    };
  }
}
