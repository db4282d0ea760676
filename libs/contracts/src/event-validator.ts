import Ajv, { ErrorObject, JSONSchemaType, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats';

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

const ajv = new Ajv({ allErrors: true, strict: true });
const MAX_REASONS = 5;
/** A reason lands in a dead letter, a result and a log line: a hostile field name must not make them huge. */
const MAX_NAME_LENGTH = 64;
const MAX_REASON_LENGTH = 1000;
addFormats(ajv);
// RFC 3339 allows times JavaScript's Date cannot read (a leap second; ajv-formats also takes an offset
// without minutes), and every time here is read with Date: a request whose expires_at read as NaN was
// answered "expired" without a word about the field.
const rfc3339 = fullFormats['date-time'] as { validate: (value: string) => boolean };
ajv.addFormat('date-time', {
  type: 'string',
  validate: (value: string) => rfc3339.validate(value) && Number.isFinite(Date.parse(value)),
});

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
    const reason = errors.slice(0, MAX_REASONS).map(describe).join('; ');
    const more = errors.length - MAX_REASONS;
    return { ok: false, reason: clip(more > 0 ? `${reason}; and ${more} more` : reason, MAX_REASON_LENGTH) };
  }
}

/** One error, naming the field: Ajv's own messages leave out which property was extra, or what is allowed. */
function describe(error: ErrorObject): string {
  const path = error.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (error.keyword === 'additionalProperties') {
    const extra = clip((error.params as { additionalProperty: string }).additionalProperty, MAX_NAME_LENGTH);
    return `${path ? `${path}.` : ''}${JSON.stringify(extra)} is not a field of this event (a misspelling?)`;
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
    return `${path || '(root)'} must be one of ${allowed.map((value) => JSON.stringify(value)).join(', ')}`;
  }
  return `${path || '(root)'} ${error.message}`;
}

function clip(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}
