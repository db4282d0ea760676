import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAppConfig } from '@lib/config';
import { keyringFromConfig, keyringProblems } from './crypto.module';

describe('keyringFromConfig', () => {
  it('refuses to start without MFA_ENCRYPTION_KEYS outside dev mode, saying what to do', () => {
    const env = { AUTH_MODE: 'public-key', AUTH_PUBLIC_KEY: 'x', AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' };
    expect(() => loadAppConfig(env, 'config-api', [keyringProblems])).toThrow(
      expect.objectContaining({
        name: 'InvalidEnvironmentError',
        message: expect.stringMatching(
          /MFA_ENCRYPTION_KEYS is not set.*openssl rand -base64 32.*AUTH_MODE=dev/,
        ),
      }),
    );
  });

  it('stops a start with a malformed MFA_ENCRYPTION_KEYS as it does for any bad variable: named, without a stack', () => {
    const config = loadAppConfig({ AUTH_MODE: 'dev', MFA_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' });
    expect(() => keyringFromConfig(config)).toThrow(
      expect.objectContaining({
        name: 'InvalidEnvironmentError',
        message: expect.stringContaining('MFA_ENCRYPTION_KEYS key "k1" must be 32 bytes'),
      }),
    );
  });

  it('generates a local key once in dev mode and reuses it', () => {
    const config = loadAppConfig({
      AUTH_MODE: 'dev',
      LOCAL_STATE_DIR: mkdtempSync(join(tmpdir(), 'keyring-')),
    });
    expect(keyringFromConfig(config).current.key).toEqual(keyringFromConfig(config).current.key);
  });

  it('names a malformed keyring in the same list as every other bad variable, so one start shows them all', () => {
    const start = () =>
      loadAppConfig({ MFA_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' }, 'config-api', [keyringProblems]);
    expect(start).toThrow(/AUTH_JWKS_URI is required.*AUTH_MODE=dev/);
    expect(start).toThrow(/AUTH_ISSUER is required/);
    expect(start).toThrow(/MFA_ENCRYPTION_KEYS key "k1" must be 32 bytes/);
    // Once, when it is the only problem.
    expect(() =>
      loadAppConfig({ AUTH_MODE: 'dev', MFA_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' }, 'dispatcher', [
        keyringProblems,
      ]),
    ).toThrow(
      expect.objectContaining({
        problems: ['MFA_ENCRYPTION_KEYS key "k1" must be 32 bytes, base64-encoded (openssl rand -base64 32)'],
      }),
    );
  });
});
