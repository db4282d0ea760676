import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

type Schema = Record<string, unknown>;
interface OpenApiDocument {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>
  >;
  components: { schemas: Record<string, Schema> };
}

/**
 * Checks real answers against the response schemas of the API's own OpenAPI document, as a client
 * generator would type them. Stricter than the document: an object may hold only the properties it
 * lists, so a field the API answers but does not document fails too.
 */
export class OpenApiResponses {
  private readonly ajv = new Ajv({ allErrors: true, strict: false });
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly document: OpenApiDocument) {
    addFormats(this.ajv);
    const schemas = structuredClone(document.components.schemas);
    for (const schema of Object.values(schemas)) closeObjects(schema);
    this.ajv.addSchema({ $id: 'openapi', components: { schemas } });
  }

  /** The problems of `body` as the answer `status` of `method path` (a path as the document spells it). */
  problems(method: string, path: string, status: number, body: unknown): string[] {
    const response = this.document.paths[path]?.[method.toLowerCase()]?.responses[String(status)];
    if (!response) return [`the document has no ${status} answer for ${method} ${path}`];
    const schema = response.content?.['application/json']?.schema;
    if (!schema)
      return body === undefined || body === '' || isEmpty(body) ? [] : ['documented without a body'];
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(rebase(schema));
      this.compiled.set(key, validate);
    }
    if (validate(body)) return [];
    return (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? ''}`);
  }
}

function closeObjects(schema: unknown): void {
  if (!schema || typeof schema !== 'object') return;
  const node = schema as Schema;
  if (node.properties && node.additionalProperties === undefined) node.additionalProperties = false;
  for (const value of Object.values(node)) closeObjects(value);
}

/** Local references of the document point into the schema registered as "openapi". */
function rebase(schema: unknown): Schema {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/')) as Schema;
}

function isEmpty(body: unknown): boolean {
  return typeof body === 'object' && body !== null && Object.keys(body).length === 0;
}
