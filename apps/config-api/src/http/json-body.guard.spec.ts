import { Readable } from 'node:stream';
import type { ExecutionContext } from '@nestjs/common';
import type { AppConfig } from '@lib/config';
import type { ApiError } from '../errors/api-error';
import { JsonBodyGuard } from './json-body.guard';

/** What the guard answers a request with these headers and body. */
async function refusalOf(headers: Record<string, string>, body: string | Buffer): Promise<ApiError> {
  const request = Object.assign(Readable.from([Buffer.from(body)]), {
    headers: { 'content-length': String(Buffer.byteLength(body)), ...headers },
    method: 'PATCH',
  });
  const context = {
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => ({}) }),
  } as unknown as ExecutionContext;
  const guard = new JsonBodyGuard({ api: { bodyLimitBytes: 65_536 } } as AppConfig);
  return guard.canActivate(context).then(
    () => Promise.reject(new Error('the body was accepted')),
    (error: ApiError) => error,
  );
}

describe('JsonBodyGuard', () => {
  it('answers a charset or Content-Encoding it cannot read with 415 unsupported_media_type', async () => {
    for (const headers of <Record<string, string>[]>[
      { 'content-type': 'application/json; charset=latin1' },
      { 'content-type': 'application/json', 'content-encoding': 'br-unknown' },
    ]) {
      const refused = await refusalOf(headers, '{}');
      expect([refused.status, refused.error]).toEqual([415, 'unsupported_media_type']);
    }
  });

  it('still answers JSON that does not parse with 400 invalid_json', async () => {
    const refused = await refusalOf({ 'content-type': 'application/json' }, '{"enabled":');
    expect([refused.status, refused.error]).toEqual([400, 'invalid_json']);
  });

  it('refuses a body that is not UTF-8 with 400 invalid_json, instead of storing U+FFFD in its place', async () => {
    // "café-login" as a Latin-1 editor saves it: é is the single byte 0xE9.
    const latin1 = Buffer.concat([
      Buffer.from('{"settings":{"enabled_clients":["caf'),
      Buffer.from([0xe9]),
      Buffer.from('-login"]}}'),
    ]);
    const refused = await refusalOf({ 'content-type': 'application/json' }, latin1);
    expect([refused.status, refused.error]).toEqual([400, 'invalid_json']);
    expect(refused.message).toMatch(/not UTF-8.*send it encoded as UTF-8/);
  });
});
