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
  const send = (token: string, status: number, retryAfter?: string, path = '/v1/projects/p/messages:send') =>
    new Promise<void>((resolve) => {
      const port = (server.address() as AddressInfo).port;
      const request = httpRequest({ port, path, method: 'POST', agent }, (response) =>
        response.resume().on('end', resolve),
      );
      fcmRetryAfter.watch(request);
      request.end(JSON.stringify({ message: { token }, answer: { status, retryAfter } }));
    });

  beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
  afterAll(() => {
    agent.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("gives each send its own answer's Retry-After, though sends of one project share a path and sockets", async () => {
    const since = performance.now();
    const before = Date.now();
    await Promise.all([send('device-a', 429, '30'), send('device-b', 500), send('device-c', 503, '90')]);
    const a = fcmRetryAfter.take('device-a', since)!;
    expect(a - before).toBeGreaterThanOrEqual(30_000);
    expect(a - before).toBeLessThan(40_000);
    expect(fcmRetryAfter.take('device-b', since)).toBeUndefined();
    expect(fcmRetryAfter.take('device-c', since)! - before).toBeGreaterThanOrEqual(90_000);
  });

  it("keeps the last answer's word: firebase-admin's own resend of a 503 may end in a 429 without one", async () => {
    const since = performance.now();
    await send('device-d', 503, '1');
    await send('device-d', 429);
    expect(fcmRetryAfter.take('device-d', since)).toBeUndefined();
  });

  it('tells a send only what was answered since it began, once, and never about answers that passed', async () => {
    await send('device-e', 429, '30');
    expect(fcmRetryAfter.take('device-e', performance.now())).toBeUndefined();
    const since = performance.now();
    await send('device-f', 429, '30');
    await send('device-f', 200, '30');
    expect(fcmRetryAfter.take('device-f', since)).toBeDefined();
    expect(fcmRetryAfter.take('device-f', since)).toBeUndefined();
  });

  it('reads only sends to FCM', async () => {
    const since = performance.now();
    await send('device-g', 429, '30', '/v1/projects/p/messages:batchSend');
    expect(fcmRetryAfter.take('device-g', since)).toBeUndefined();
  });
});
