import type { ArgumentsHost } from '@nestjs/common';
import { mongo } from 'mongoose';
import { ApiErrorFilter } from './api-error.filter';

/** Runs the filter on an exception and returns what the client would get. */
function respond(exception: unknown, method = 'POST') {
  const sent: { status?: number; body?: Record<string, unknown>; headers: Record<string, string> } = {
    headers: {},
  };
  const response = {
    setHeader: (name: string, value: string) => (sent.headers[name] = value),
    status: (status: number) => {
      sent.status = status;
      return { json: (body: Record<string, unknown>) => (sent.body = body) };
    },
  };
  const host = {
    switchToHttp: () => ({ getResponse: () => response, getRequest: () => ({ method }) }),
  } as unknown as ArgumentsHost;
  new ApiErrorFilter().catch(exception, host);
  return sent;
}

describe('ApiErrorFilter', () => {
  it('answers a store that is busy (FerretDB "database is locked") with 503 and Retry-After, not 500', () => {
    const busy = new mongo.MongoServerError({
      message:
        '[collection.go:177 sqlite.(*collection).UpdateAll.func1] database is locked (5) (SQLITE_BUSY)',
    });
    const sent = respond(busy);
    expect(sent.status).toBe(503);
    expect(sent.headers['Retry-After']).toBe('1');
    expect(sent.body).toMatchObject({ error: 'service_unavailable' });
    expect(JSON.stringify(sent.body)).not.toMatch(/sqlite|collection\.go/i);
  });

  it('answers a MongoDB write conflict the same way', () => {
    expect(respond(new mongo.MongoServerError({ message: 'WriteConflict', code: 112 })).status).toBe(503);
  });

  it('tells a writer the store did not confirm that its change may have been saved, with no Retry-After', () => {
    const retried = new mongo.MongoServerError({ message: 'not primary' });
    retried.addErrorLabel('RetryableWriteError');
    for (const unconfirmed of [
      new mongo.MongoNetworkError('connection 3 to 127.0.0.1:27017 closed'),
      retried,
    ]) {
      const write = respond(unconfirmed, 'PATCH');
      expect(write.status).toBe(503);
      expect(write.body?.error_description).toMatch(/may have been saved.*GET/);
      expect(write.headers['Retry-After']).toBeUndefined();
      const read = respond(unconfirmed, 'GET');
      expect(read.status).toBe(503);
      expect(read.body?.error_description).not.toMatch(/saved/);
    }
    // Refused before anything was sent (the store down): nothing changed, retry.
    for (const unsent of [
      new mongo.MongoNotConnectedError('not connected'),
      new mongo.MongoServerSelectionError('Server selection timed out after 30000 ms', {} as never),
    ]) {
      const refused = respond(unsent, 'POST');
      expect([refused.status, refused.headers['Retry-After']]).toEqual([503, '5']);
    }
  });

  it('answers an election or a shutdown of a replica set member with 503 to retry, not 500', () => {
    for (const [code, name] of [
      [11602, 'InterruptedDueToReplStateChange'],
      [10107, 'NotWritablePrimary'],
      [91, 'ShutdownInProgress'],
    ] as const) {
      const read = respond(new mongo.MongoServerError({ message: name, code }), 'GET');
      expect([code, read.status, read.headers['Retry-After']]).toEqual([code, 503, '5']);
    }
    // A write concern that timed out: applied on the primary, so it may have been saved.
    const unconfirmed = respond(
      new mongo.MongoServerError({ message: 'waiting for replication timed out', code: 64 }),
      'PATCH',
    );
    expect([unconfirmed.status, unconfirmed.body?.error_description]).toEqual([
      503,
      expect.stringMatching(/may have been saved/),
    ]);
  });

  it('answers anything else unexpected with 500 and an error id, without internals', () => {
    const sent = respond(new Error('boom at internal.js:1'));
    expect(sent.status).toBe(500);
    expect(JSON.stringify(sent.body)).not.toMatch(/internal\.js/);
  });
});
