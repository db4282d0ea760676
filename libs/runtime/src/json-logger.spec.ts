import { Writable } from 'node:stream';
import { generateKeyPairSync } from 'node:crypto';
import { JsonLogger, redactSecrets } from './json-logger';

function capture(): { logger: JsonLogger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    logger: new JsonLogger('debug', 'test', sink),
    lines: () =>
      chunks
        .join('')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('JsonLogger', () => {
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

  it('writes one JSON object per line with level, time, app and context', () => {
    const { logger, lines } = capture();
    logger.log('started', 'Bootstrap');
    expect(lines()[0]).toMatchObject({ level: 'info', app: 'test', context: 'Bootstrap', msg: 'started' });
    expect(typeof lines()[0].time).toBe('string');
  });

  it('redacts key material and tokens in free text, stacks included', () => {
    const { logger, lines } = capture();
    logger.error(`apply failed for ${pem}`, `Error: Bearer ${jwt}\n at x`, 'Registry');
    const [line] = lines();
    expect(JSON.stringify(line)).not.toMatch(/PRIVATE KEY|eyJ|MIG/);
    expect(line.msg).toMatch(/^apply failed for \[redacted\]\s*$/);
  });

  it('redacts secret fields of logged objects by name', () => {
    const { logger, lines } = capture();
    logger.warn({
      settings: { apns: { key: pem, key_id: 'ABC123DEFG' } },
      headers: { authorization: `Bearer ${jwt}` },
    });
    const text = JSON.stringify(lines()[0]);
    expect(text).not.toMatch(/PRIVATE KEY|eyJ/);
    expect(text).toContain('ABC123DEFG');
  });

  it('redacts the keyring, camelCase private keys and a password in a connection string, fields or text', () => {
    const { logger, lines } = capture();
    logger.warn(
      {
        config: { encryptionKeys: 'k1:c2VjcmV0', mongodbUri: 'mongodb://app:hunter2@mongo-1:27017/push_mfa' },
        credential: { privateKey: pem, clientEmail: 'svc@example.iam.gserviceaccount.com' },
      },
      'Store',
    );
    logger.error('could not reach mongodb+srv://app:hunter2@cluster0.example.net/db?retryWrites=true');
    const text = JSON.stringify(lines());
    expect(text).not.toMatch(/hunter2|c2VjcmV0|PRIVATE KEY/);
    expect(text).toContain('mongodb://app:[redacted]@mongo-1:27017/push_mfa');
    expect(text).toContain('svc@example.iam.gserviceaccount.com');
    expect(text).toContain('mongodb+srv://app:[redacted]@cluster0.example.net');
  });

  it('redacts secret fields and secrets in text at any depth, and a stack passed without a context', () => {
    const { logger, lines } = capture();
    const error = Object.assign(new Error(`sign failed: ${pem}`), { config: { auth: { key: pem } } });
    const nested: Record<string, unknown> = {
      a: { b: { c: { d: { key: pem, Authorization: `Bearer ${jwt}` } } } },
      detail: `the SDK said ${pem}`,
      list: [{ private_key: pem }, `token ${jwt}`],
      error,
      cause: error,
    };
    nested.self = nested;
    logger.warn(nested);
    logger.error('apply failed', `Error: ${jwt}\n    at apply`);
    const text = JSON.stringify(lines());
    expect(text).not.toMatch(/PRIVATE KEY|eyJ|MIG/);
    expect(lines()[0]).toMatchObject({ a: { b: { c: { d: { key: '[redacted]' } } } }, self: '[…]' });
  });

  it('keeps what tells an error or a value apart: its type, code and cause, a URL, a byte count', () => {
    const { logger, lines } = capture();
    const reset = Object.assign(new Error('socket hang up', { cause: new Error('ECONNRESET') }), {
      code: 'ECONNRESET',
    });
    logger.warn({ error: reset, url: new URL('https://fcm.googleapis.com/v1'), body: Buffer.from('abc') });
    expect(lines()[0]).toMatchObject({
      error: {
        type: 'Error',
        message: 'socket hang up',
        code: 'ECONNRESET',
        cause: { message: 'ECONNRESET' },
      },
      url: 'https://fcm.googleapis.com/v1',
      body: '[3 bytes]',
    });
  });

  it('keeps the fields of an audit line, whose names are close to redacted ones', () => {
    const { logger, lines } = capture();
    const audit = {
      msg: 'mfa configuration updated',
      audit: true,
      actor: 'admin@example.com',
      changed: ['settings.apns.key', 'settings.fcm.private_key'],
      apns_key_fingerprint: 'f1',
      previous_fcm_private_key_fingerprint: 'f2',
    };
    logger.log(audit, 'Audit');
    expect(lines()[0]).toMatchObject(audit);
  });

  it('leaves ordinary text alone', () => {
    expect(redactSecrets('tenant acme: configuration v3 live in 4 ms')).toBe(
      'tenant acme: configuration v3 live in 4 ms',
    );
  });
});
