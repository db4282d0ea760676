/** Writes the JSON Schema of every event to docs/schemas/, for services written in other languages. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  configAppliedSchema,
  configChangedSchema,
  pushRequestedSchema,
  pushResultSchema,
} from '../libs/contracts/src';

const out = join(__dirname, '..', 'docs', 'schemas');
mkdirSync(out, { recursive: true });
for (const schema of [configAppliedSchema, configChangedSchema, pushRequestedSchema, pushResultSchema]) {
  writeFileSync(join(out, `${schema.title}.schema.json`), `${JSON.stringify(schema, null, 2)}\n`);
}
