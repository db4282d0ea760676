import { spawnSync } from 'node:child_process';

// The apps as main.ts starts them: a bad environment stops them at once, naming each variable.
describe.each(['config-api', 'dispatcher'])('%s start-up', (app) => {
  const start = (env: Record<string, string>) =>
    spawnSync(
      'node',
      ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', `apps/${app}/src/main.ts`],
      { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 30_000 },
    );

  it('refuses a bad environment with a message naming every bad variable, and exits 1', () => {
    const run = start({
      NODE_ENV: 'production',
      AUTH_MODE: 'dev',
      PORT: 'eighty',
      KAFKA_SASL_MECHANISM: 'kerberos',
      APNS_ENDPOINT: '127.0.0.1:8443',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Invalid configuration; fix these environment variables (see .env.example)');
    expect(run.stderr).toContain('PORT must be a whole number from 0 to 65535 (got "eighty")');
    expect(run.stderr).toContain('KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256, scram-sha-512');
    expect(run.stderr).toContain(
      'AUTH_MODE=dev trusts a locally generated key and is refused when NODE_ENV=production',
    );
    expect(run.stderr).toContain('MFA_ENCRYPTION_KEYS is required in production');
    expect(run.stderr).toContain('refused in production');
    expect(run.stderr).not.toContain('    at ');
  });

  it('refuses a malformed MFA_ENCRYPTION_KEYS the same way, before connecting anywhere', () => {
    const run = start({ AUTH_MODE: 'dev', MFA_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Invalid configuration; fix these environment variables (see .env.example)');
    expect(run.stderr).toContain('MFA_ENCRYPTION_KEYS key "k1" must be 32 bytes');
    expect(run.stderr).not.toContain('    at ');
  });
});
