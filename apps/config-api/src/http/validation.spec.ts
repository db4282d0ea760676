import { CreateMfaDto } from '../mfa/dto/create-mfa.dto';
import type { ApiError } from '../errors/api-error';
import { strictValidationPipe } from './validation';

/** What the API answers a POST /mfa body with, as the global pipe refuses it. */
async function refusalOf(body: unknown): Promise<ApiError> {
  return strictValidationPipe()
    .transform(body, { type: 'body', metatype: CreateMfaDto })
    .then(
      () => Promise.reject(new Error('the body was accepted')),
      (error: ApiError) => error,
    );
}

const valid = {
  enabled: true,
  provider: 'native',
  type: 'push',
  settings: { enabled_clients: ['web'], strategy: 'prompt' },
};

describe('strict validation errors', () => {
  it('never sends back a key pasted where a field name goes', async () => {
    const pasted =
      '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';
    const longName = `a${'b'.repeat(200)}`;
    for (const name of [pasted, pasted.slice(0, 60), longName]) {
      const refused = await refusalOf({ ...valid, settings: { ...valid.settings, [name]: 1 } });
      const answer = JSON.stringify(refused.toBody());
      expect([refused.status, answer]).toEqual([400, expect.stringContaining('is not an allowed field')]);
      expect(answer).not.toContain('MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0w');
      expect(answer).not.toContain('b'.repeat(100));
    }
  });

  it('names a field of the wrong type once, without the fields inside it', async () => {
    const refused = await refusalOf({ ...valid, settings: [{ enabled_clients: 5 }] });
    expect(refused.details).toEqual([{ path: 'settings', message: expect.stringMatching(/object/) }]);
  });

  it('answers a body with very many problems with the first of them, not with more than it was sent', async () => {
    const unknown = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`field${i}`, i]));
    const refused = await refusalOf({ ...valid, settings: { ...valid.settings, ...unknown } });
    expect(refused.details).toHaveLength(50);
    expect(refused.description).toMatch(
      /^The request is invalid: check (settings\.field\d+, ){9}settings\.field\d+ and 190 more\. The first 50 of 200 problems are listed\.$/,
    );
  });
});
