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

  static validation(details: ErrorDetail[]): ApiError {
    const fields = [...new Set(details.map((detail) => detail.path))].join(', ');
    return new ApiError(400, 'validation_error', `The request is invalid: check ${fields}.`, details);
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
