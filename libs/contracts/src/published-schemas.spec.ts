import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLISHED_SCHEMAS, pushRequestedSchema, TOPICS } from '.';
import { EventValidator } from './event-validator';

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

it('publishes standard draft-07, which takes and refuses what the dispatcher does, nulls included', () => {
  // A validator that knows no `nullable` (Ajv in strict mode refuses unknown keywords).
  const standard = new Ajv({ strict: true, allErrors: true });
  addFormats(standard);
  const published = PUBLISHED_SCHEMAS.find((schema) => schema.title === pushRequestedSchema.title)!;
  expect(JSON.stringify(PUBLISHED_SCHEMAS)).not.toContain('nullable');
  const validate = standard.compile(published);
  const enforced = new EventValidator(pushRequestedSchema);
  const request = {
    challenge_id: 'ch-1',
    client_id: 'web-login',
    device: { provider: 'fcm', token: 'fcm-token' },
    expires_at: '2026-12-06T17:00:00Z',
  };
  for (const candidate of [
    request,
    { ...request, tenant: null, strategy: null, code: null, values: null, message: null, context: null },
    { ...request, message: { title: null, locale: 'en' } },
    { ...request, strategy: 'push' },
    { ...request, tenant: 7 },
    { ...request, values: ['1', '2'] },
  ])
    expect([JSON.stringify(candidate), validate(candidate)]).toEqual([
      JSON.stringify(candidate),
      enforced.check(candidate).ok,
    ]);
});
