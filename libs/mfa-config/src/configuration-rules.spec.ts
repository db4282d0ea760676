import { generateKeyPairSync } from 'node:crypto';
import { checkConfigurationRules, parseApnsKey } from './configuration-rules';
import type { MfaConfiguration } from './mfa-configuration';

const p8 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const rsaKeyOf = (modulusLength: number) =>
  generateKeyPairSync('rsa', { modulusLength })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();

/** An enabled configuration with these settings (over one client and number matching). */
const configWith = (settings: Partial<MfaConfiguration['settings']>): MfaConfiguration => ({
  enabled: true,
  provider: 'native',
  type: 'push',
  settings: { enabled_clients: ['web-login'], strategy: 'code', ...settings },
});
const withBundleId = (bundle_id: string): MfaConfiguration =>
  configWith({
    apns: { bundle_id, key: p8, key_id: 'ABC123DEFG', team_id: 'TEAM123456', production: true },
  });
const SERVICE_ACCOUNT = 'fb@acme-project.iam.gserviceaccount.com';
const withFcm = ({ client_email = SERVICE_ACCOUNT, private_key = '' }): MfaConfiguration =>
  configWith({ fcm: { client_email, project_id: 'acme-project', private_key } });

describe('checkConfigurationRules: bundle_id', () => {
  it('takes what Apple takes (letters, digits, hyphens and periods; reverse-DNS only recommended)', () => {
    for (const bundleId of ['com.example.app', 'com.example.my-app2', 'authenticator'])
      expect(checkConfigurationRules(withBundleId(bundleId))).toEqual([]);
  });

  it('refuses anything else, naming the field', () => {
    for (const bundleId of ['com.example.my app', 'com..example', '.com.example', 'com.example_app'])
      expect(checkConfigurationRules(withBundleId(bundleId))).toEqual([
        {
          path: 'settings.apns.bundle_id',
          message: expect.stringContaining('letters, digits, hyphens and periods'),
        },
      ]);
  });
});

describe('checkConfigurationRules: enabled_clients', () => {
  const withClients = (enabled_clients: string[], enabled = true): MfaConfiguration => {
    const config = withBundleId('com.example.app');
    return { ...config, enabled, settings: { ...config.settings, enabled_clients } };
  };

  it('refuses an empty list while enabled, which would refuse every push, naming the field', () => {
    expect(checkConfigurationRules(withClients([]))).toEqual([
      { path: 'settings.enabled_clients', message: expect.stringContaining('at least one client') },
    ]);
  });

  it('takes an empty list when disabled, so a configuration stored empty can still be disabled', () => {
    expect(checkConfigurationRules(withClients([], false))).toEqual([]);
  });

  it('refuses ids no push request would name: padded, or holding control or invisible characters', () => {
    const ids = [
      'web',
      'web ',
      '\u200bweb',
      'we\u0000b',
      'web\u200d',
      '\u200cweb',
      'web\u061c',
      'web\u{E0041}',
    ];
    const allowed = ['ios', 'دستیار\u200cمن', '\u{1F469}\u200d\u{1F4BB}'];
    const refused = checkConfigurationRules(withClients([...ids, ...allowed]));
    expect(refused.map((problem) => problem.path)).toEqual(
      ids.slice(1).map((_, i) => `settings.enabled_clients.${i + 1}`),
    );
    expect(refused[0].message).toMatch(/white space.*invisible/);
    // One stored by an earlier version can still be disabled.
    expect(checkConfigurationRules(withClients(['web '], false))).toEqual([]);
  });

  it('refuses empty and repeated entries, naming each', () => {
    expect(checkConfigurationRules(withClients(['web', ' ', 'web']))).toEqual([
      { path: 'settings.enabled_clients.1', message: 'must not be empty' },
      { path: 'settings.enabled_clients.2', message: 'duplicates "web"' },
    ]);
  });
});

describe('checkConfigurationRules: fcm.client_email', () => {
  const fcmKey = rsaKeyOf(2048);
  const withEmail = (client_email: string) => withFcm({ client_email, private_key: fcmKey });

  it('takes a service account email', () => {
    expect(checkConfigurationRules(withEmail(SERVICE_ACCOUNT))).toEqual([]);
  });

  it('refuses one with an invisible, control or non-ASCII character pasted into it, naming the field', () => {
    for (const pasted of [
      `${SERVICE_ACCOUNT}\u200b`,
      `\u202e${SERVICE_ACCOUNT}`,
      `fb\u0000x@acme-project.iam.gserviceaccount.com`,
      `${SERVICE_ACCOUNT}\u00a0`,
      'fb@acme.é.com',
      'fb @acme.com',
    ])
      expect(checkConfigurationRules(withEmail(pasted))).toEqual([
        { path: 'settings.fcm.client_email', message: expect.stringContaining('printable ASCII') },
      ]);
  });
});

describe('checkConfigurationRules: fcm.private_key size', () => {
  it('takes 4096 bits, and refuses more: each token signed with a larger key holds the dispatcher', () => {
    expect(checkConfigurationRules(withFcm({ private_key: rsaKeyOf(4096) }))).toEqual([]);
    expect(checkConfigurationRules(withFcm({ private_key: rsaKeyOf(4352) }))).toEqual([
      { path: 'settings.fcm.private_key', message: expect.stringMatching(/2048 to 4096 bits.*\(got 4352\)/) },
    ]);
  }, 30_000); // generating two large RSA keys takes seconds
});

describe('parseApnsKey', () => {
  it('reads a key pasted with escaped or Windows line ends, or indented', () => {
    const lines = p8.trim().split('\n');
    for (const pasted of [
      lines.join('\\n'),
      lines.join('\\r\\n'),
      lines.join('\r\n'),
      lines.map((line) => `    ${line}`).join('\n'),
    ])
      expect(parseApnsKey(pasted).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });
});
