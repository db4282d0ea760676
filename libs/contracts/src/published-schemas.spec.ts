import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configAppliedSchema, configChangedSchema, pushRequestedSchema, pushResultSchema } from '.';

// Services in other languages read docs/schemas/: it must say what the code enforces (npm run schemas).
it.each([configAppliedSchema, configChangedSchema, pushRequestedSchema, pushResultSchema])(
  'docs/schemas/$title is current',
  (schema) => {
    const file = join(__dirname, '..', '..', '..', 'docs', 'schemas', `${schema.title}.schema.json`);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(JSON.parse(JSON.stringify(schema)));
  },
);
