import { createServer, get, Agent, IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { retryAfterByPath, retryAtOf } from './retry-after';

const NOW = Date.parse('2026-12-05T20:00:00Z');

describe('retryAtOf', () => {
  it('reads seconds to wait and HTTP dates, the two forms of Retry-After', () => {
    expect(retryAtOf('12', NOW)).toBe(NOW + 12_000);
    expect(retryAtOf(' 0 ', NOW)).toBe(NOW);
    expect(retryAtOf('Sat, 05 Dec 2026 20:01:00 GMT', NOW)).toBe(NOW + 60_000);
  });

  it('treats a date already past as "now", and ignores what is neither form', () => {
    expect(retryAtOf('Sat, 05 Dec 2026 19:00:00 GMT', NOW)).toBe(NOW);
    for (const value of [undefined, '', '-5', '1.5', 'soon', 'Sat, 99 Foo 2026'])
      expect([value, retryAtOf(value, NOW)]).toEqual([value, undefined]);
  });
});

describe('retryAfterByPath', () => {
  // Answers with the Retry-After the request's last path segment names (none for "-").
  const server = createServer((request, response) => {
    const seconds = request.url!.split('/').pop()!;
    response.writeHead(429, seconds === '-' ? {} : { 'retry-after': seconds });
    response.end();
  });
  const agent = new Agent({ keepAlive: true });
  const ask = (path: string) =>
    new Promise<void>((resolve) =>
      get({ port: (server.address() as AddressInfo).port, path, agent }, (response: IncomingMessage) =>
        response.resume().on('end', resolve),
      ),
    );

  beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
  afterAll(() => {
    agent.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('keeps the Retry-After answered to each path (FCM has one per project), over pooled sockets', async () => {
    const since = Date.now();
    await Promise.all([ask('/v1/projects/one/30'), ask('/v1/projects/two/90')]);
    const one = retryAfterByPath.askedSince('/v1/projects/one/30', since)!;
    expect(one - since).toBeGreaterThanOrEqual(30_000);
    expect(one - since).toBeLessThan(40_000);
    expect(retryAfterByPath.askedSince('/v1/projects/two/90', since)! - since).toBeGreaterThanOrEqual(90_000);
    expect(retryAfterByPath.askedSince('/v1/projects/three/30', since)).toBeUndefined();
  });

  it('tells a call only what was answered since it began, and ignores answers without one', async () => {
    await ask('/v1/projects/four/30');
    const since = Date.now() + 1;
    await new Promise((resolve) => setTimeout(resolve, 2));
    await ask('/v1/projects/four/-');
    expect(retryAfterByPath.askedSince('/v1/projects/four/30', since)).toBeUndefined();
    expect(retryAfterByPath.askedSince('/v1/projects/four/-', 0)).toBeUndefined();
  });
});
