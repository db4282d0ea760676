import { Agent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { FcmRetryAfter, retryAtOf } from './retry-after';

const NOW = Date.parse('2026-12-05T20:00:00Z');

describe('retryAtOf', () => {
  it('reads seconds to wait and HTTP dates, the two forms of Retry-After', () => {
    expect(retryAtOf('12', NOW)).toBe(NOW + 12_000);
    expect(retryAtOf(' 0 ', NOW)).toBe(NOW);
    expect(retryAtOf('Sat, 05 Dec 2026 20:01:00 GMT', NOW)).toBe(NOW + 60_000);
  });

  it('keeps a wait past any expiry to a day, a time it can still name', () => {
    expect(retryAtOf('9'.repeat(400), NOW)).toBe(NOW + 24 * 60 * 60_000);
  });

  it('treats a date already past as "now", and ignores what is neither form', () => {
    expect(retryAtOf('Sat, 05 Dec 2026 19:00:00 GMT', NOW)).toBe(NOW);
    for (const value of [undefined, '', '-5', '1.5', 'soon', 'Sat, 99 Foo 2026'])
      expect([value, retryAtOf(value, NOW)]).toEqual([value, undefined]);
  });
});

describe('fcmRetryAfter', () => {
  // Answers as FCM would, with the status and Retry-After the body's `answer` asks for.
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const { answer } = JSON.parse(body) as { answer: { status: number; retryAfter?: string } };
      response.writeHead(answer.status, answer.retryAfter ? { 'retry-after': answer.retryAfter } : {});
      response.end();
    });
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const fcmRetryAfter = new FcmRetryAfter();
  /** A send as firebase-admin makes it (the whole body written with end()), shown as the FCM agent does. */
  const send = (
    challengeId: string,
    status: number,
    retryAfter?: string,
    path = '/v1/projects/p/messages:send',
  ) =>
    new Promise<void>((resolve) => {
      const port = (server.address() as AddressInfo).port;
      const request = httpRequest({ port, path, method: 'POST', agent }, (response) =>
        response.resume().on('end', resolve),
      );
      fcmRetryAfter.watch(request);
      const message = { token: 'one-device', data: { challenge_id: challengeId } };
      request.end(Buffer.from(JSON.stringify({ message, answer: { status, retryAfter } })));
    });

  beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
  afterAll(() => {
    agent.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("gives each challenge its own answer's Retry-After, though sends share a path, sockets and even a device", async () => {
    const since = performance.now();
    const before = Date.now();
    await Promise.all([
      send('challenge-a', 429, '30'),
      send('challenge-b', 500),
      send('challenge-c', 503, '90'),
    ]);
    const a = fcmRetryAfter.take('challenge-a', since)!;
    expect(a - before).toBeGreaterThanOrEqual(30_000);
    expect(a - before).toBeLessThan(40_000);
    expect(fcmRetryAfter.take('challenge-b', since)).toBeUndefined();
    expect(fcmRetryAfter.take('challenge-c', since)! - before).toBeGreaterThanOrEqual(90_000);
  });

  it("keeps the last answer's word: firebase-admin's own resend of a 503 may end in a 429 without one", async () => {
    const since = performance.now();
    await send('challenge-d', 503, '1');
    await send('challenge-d', 429);
    expect(fcmRetryAfter.take('challenge-d', since)).toBeUndefined();
  });

  it('tells a send only what was answered since it began, once, and never about answers that passed', async () => {
    await send('challenge-e', 429, '30');
    expect(fcmRetryAfter.take('challenge-e', performance.now())).toBeUndefined();
    const since = performance.now();
    await send('challenge-f', 429, '30');
    await send('challenge-f', 200, '30');
    expect(fcmRetryAfter.take('challenge-f', since)).toBeDefined();
    expect(fcmRetryAfter.take('challenge-f', since)).toBeUndefined();
  });

  it('reads only sends to FCM', async () => {
    const since = performance.now();
    await send('challenge-g', 429, '30', '/v1/projects/p/messages:batchSend');
    expect(fcmRetryAfter.take('challenge-g', since)).toBeUndefined();
  });
});
