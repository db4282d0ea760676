import { CreateMfaDto } from '../mfa/dto/create-mfa.dto';
import { ListMfaQuery } from '../mfa/dto/list-mfa.query';
import { RESPONSE_ONLY_FIELDS } from '../mfa/dto/mfa-config.response';
import { UpdateMfaDto } from '../mfa/dto/update-mfa.dto';
import type { ApiError } from '../errors/api-error';
import { strictValidationPipe } from './validation';

/** What the API answers a POST /mfa body (or a PATCH's) with, as the global pipe refuses it. */
async function refusalOf(body: unknown, metatype: new () => object = CreateMfaDto): Promise<ApiError> {
  return strictValidationPipe(RESPONSE_ONLY_FIELDS)
    .transform(body, { type: 'body', metatype })
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

  it('names the fields of a body copied from a GET as read-only, to be left out', async () => {
    const copied = {
      ...valid,
      version: 3,
      created_at: '2026-12-01T00:00:00.000Z',
      updated_at: '2026-12-01T00:00:00.000Z',
      status: { version: 3, state: 'applied', error: null, at: '2026-12-01T00:00:00.000Z' },
      settings: {
        ...valid.settings,
        apns: { key_fingerprint: 'sha256:00' },
        fcm: { private_key_fingerprint: 'sha256:00', surprise: 1 },
      },
    };
    const refused = await refusalOf(copied, UpdateMfaDto);
    const readOnly = 'is read-only: answers show it, requests leave it out';
    expect(refused.details).toEqual(
      expect.arrayContaining([
        { path: 'version', message: readOnly },
        { path: 'created_at', message: readOnly },
        { path: 'updated_at', message: readOnly },
        { path: 'status', message: readOnly },
        { path: 'settings.apns.key_fingerprint', message: readOnly },
        { path: 'settings.fcm.private_key_fingerprint', message: readOnly },
        { path: 'settings.fcm.surprise', message: 'is not an allowed field' },
      ]),
    );
  });

  it('says a required field sent as null must not be null, as a PATCH does, and one left out is required', async () => {
    const refused = await refusalOf({ ...valid, enabled: null, provider: undefined });
    expect(refused.details).toEqual(
      expect.arrayContaining([
        { path: 'enabled', message: 'must not be null' },
        { path: 'provider', message: 'is required' },
      ]),
    );
  });

  it('takes a page query as numbers, with its defaults, and an empty one as no integer rather than 0', async () => {
    const pipe = strictValidationPipe();
    const page = (query: object) => pipe.transform(query, { type: 'query', metatype: ListMfaQuery });
    await expect(page({})).resolves.toEqual({ limit: 50, offset: 0 });
    await expect(page({ limit: '10', offset: '20' })).resolves.toEqual({ limit: 10, offset: 20 });
    for (const blank of ['', ' '])
      await expect(page({ limit: blank, offset: blank })).rejects.toMatchObject({
        details: [
          { path: 'limit', message: 'must be an integer number' },
          { path: 'offset', message: 'must be an integer number' },
        ],
      });
  });
});
