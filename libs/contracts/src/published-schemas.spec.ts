import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLISHED_SCHEMAS, TOPICS } from '.';

// Services in other languages read docs/schemas/: it must say what the code enforces (npm run schemas).
it.each(PUBLISHED_SCHEMAS)('docs/schemas/$title is current', (schema) => {
  const file = join(__dirname, '..', '..', '..', 'docs', 'schemas', `${schema.title}.schema.json`);
  expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(JSON.parse(JSON.stringify(schema)));
});

it('publishes a schema for every topic other services read, titled with its default name', () => {
  // Only the dispatchers read mfa.push.retrying: it holds push requests as they came, and their retry state in headers.
  const shared = Object.values(TOPICS).filter((topic) => topic !== TOPICS.pushRetrying);
  expect(PUBLISHED_SCHEMAS.map((schema) => schema.title).sort()).toEqual(shared.sort());
});
