import Ajv, { JSONSchemaType, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

const ajv = new Ajv({ allErrors: true, strict: true });
const MAX_REASONS = 5;
addFormats(ajv);

/** Parses and validates one Kafka message value against an event's JSON Schema: consumers trust nothing. */
export class EventValidator<T> {
  private readonly validate: ValidateFunction<T>;

  constructor(schema: JSONSchemaType<T>) {
    this.validate = ajv.compile(schema);
  }

  parse(raw: Buffer | string | null | undefined): ParseResult<T> {
    if (raw === null || raw === undefined) return { ok: false, reason: 'message has no value' };
    let value: unknown;
    try {
      value = JSON.parse(raw.toString());
    } catch {
      return { ok: false, reason: 'message value is not valid JSON' };
    }
    return this.check(value);
  }

  /** Validates an already parsed value. */
  check(value: unknown): ParseResult<T> {
    if (this.validate(value)) return { ok: true, value };
    // An if/then's own error ("must match then schema") only repeats the error of its then.
    const errors = (this.validate.errors ?? []).filter((error) => error.keyword !== 'if');
    // A hostile message can hold 100,000 errors: the reason names the first few, so it stays a line.
    const reason = errors
      .slice(0, MAX_REASONS)
      .map(
        (error) =>
          `${error.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(root)'} ${error.message}`,
      )
      .join('; ');
    const more = errors.length - MAX_REASONS;
    return { ok: false, reason: more > 0 ? `${reason}; and ${more} more` : reason };
  }
}
