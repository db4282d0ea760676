import { randomUUID } from 'node:crypto';
import type { LoggerService } from '@nestjs/common';
import { apnsP8Key } from './fixtures/keys';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { testEnvironment } from './support/test-environment';

type Line = Record<string, unknown>;

/** Keeps what the app logs as objects (the request and audit lines), and prints its errors. */
class RecordingLogger implements LoggerService {
  readonly lines: Line[] = [];
  log(message: unknown): void {
    if (message && typeof message === 'object') this.lines.push(message as Line);
  }
  error(message: unknown, ...rest: unknown[]): void {
    console.error(message, ...rest);
  }
  warn(): void {}
}

// Who changed a tenant's MFA configuration, and what: the trail an auditor asks for, never a secret.
describe('audit trail (real FerretDB and Kafka)', () => {
  const logger = new RecordingLogger();
  let api: ConfigApiHarness;
  const send = async (
    method: 'post' | 'patch' | 'delete',
    path: string,
    scopes: string[],
    body?: object,
    requestId: string = randomUUID(),
  ) => {
    // The harness signs every token as subject admin@test.
    const token = await api.token(scopes, { tenant_id: 'audited' });
    return api
      .http()
      [method](path)
      .set('Authorization', `Bearer ${token}`)
      .set('X-Request-Id', requestId)
      .send(body);
  };
  const auditLines = () => logger.lines.filter((line) => line.audit === true);

  beforeAll(async () => {
    api = await startConfigApi(testEnvironment(), logger);
  });
  afterAll(async () => {
    await api.close();
  });

  it('logs each change with its author, version, changed fields and the fingerprints in use', async () => {
    // The caller's own request ids, which an admin tool can look its changes up by.
    const created = await send('post', '/mfa', ['write:mfa'], pushConfigBody(), 'create-1').then(
      (res) => res.body,
    );
    const replacedKey = apnsP8Key();
    const updated = await send(
      'patch',
      '/mfa/push',
      ['update:mfa'],
      { settings: { enabled_clients: ['web-login', 'cli'], apns: { key: replacedKey } } },
      'patch-1',
    ).then((res) => res.body);
    await send('delete', '/mfa/push', ['delete:mfa'], undefined, 'delete-1').then((res) =>
      expect(res.status).toBe(204),
    );

    const common = { actor: 'admin@test', tenant: 'audited', type: 'push' };
    expect(auditLines()).toEqual([
      {
        msg: 'mfa configuration created',
        audit: true,
        ...common,
        request_id: 'create-1',
        version: 1,
        apns_key_fingerprint: created.settings.apns.key_fingerprint,
        fcm_private_key_fingerprint: created.settings.fcm.private_key_fingerprint,
      },
      {
        msg: 'mfa configuration updated',
        audit: true,
        ...common,
        request_id: 'patch-1',
        version: 2,
        changed: ['settings.apns.key', 'settings.enabled_clients'],
        apns_key_fingerprint: updated.settings.apns.key_fingerprint,
        fcm_private_key_fingerprint: created.settings.fcm.private_key_fingerprint,
        previous_apns_key_fingerprint: created.settings.apns.key_fingerprint,
      },
      {
        msg: 'mfa configuration deleted',
        audit: true,
        ...common,
        request_id: 'delete-1',
        version: 3,
        previous_apns_key_fingerprint: updated.settings.apns.key_fingerprint,
        previous_fcm_private_key_fingerprint: created.settings.fcm.private_key_fingerprint,
      },
    ]);
    expect(updated.settings.apns.key_fingerprint).not.toBe(created.settings.apns.key_fingerprint);
    expect(JSON.stringify(logger.lines)).not.toMatch(/PRIVATE KEY|ciphertext/);
  });

  it('logs nothing for a change that did not happen', async () => {
    const before = auditLines().length;
    await send('delete', '/mfa/push', ['delete:mfa']).then((res) => expect(res.status).toBe(404));
    await send('post', '/mfa', ['write:mfa'], pushConfigBody()).then((res) => expect(res.status).toBe(201));
    await send('post', '/mfa', ['write:mfa'], pushConfigBody()).then((res) => expect(res.status).toBe(409));
    // The re-created configuration continues the version sequence.
    expect(auditLines().slice(before)).toEqual([
      expect.objectContaining({ msg: 'mfa configuration created', version: 4 }),
    ]);
  });

  it('names who asked on every request line, refusals included', async () => {
    await send('post', '/mfa', ['read:mfa'], pushConfigBody()).then((res) => expect(res.status).toBe(403));
    // Written when the response is finished, which the client may see first.
    const refused = () => logger.lines.filter((line) => line.msg === 'request' && line.status === 403);
    for (let wait = 0; refused().length === 0 && wait < 50; wait++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(refused()).toEqual([
      expect.objectContaining({
        actor: 'admin@test',
        tenant: 'audited',
        client_ip: expect.stringMatching(/127\.0\.0\.1/),
      }),
    ]);
  });
});
