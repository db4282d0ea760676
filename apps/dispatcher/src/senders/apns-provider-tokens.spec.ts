import { generateKeyPairSync } from 'node:crypto';
import { Provider } from '@parse/node-apn';
import type { ApnsSettings } from '@lib/mfa-config';
import { ApnsProviderTokens } from './apns-provider-tokens';

const newKey = () =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;

const settingsWith = (key: string): ApnsSettings => ({
  bundle_id: 'com.example.app',
  key,
  key_id: 'ABC1234567',
  team_id: 'TEAM123456',
  production: false,
});

/** The token node-apn would put in the next request's authorization header. */
const tokenOf = (provider: Provider): string =>
  (provider as unknown as { client: { config: { token: { current: string } } } }).client.config.token.current;

// Against the installed node-apn: if it moved its token, share() would quietly do nothing.
describe('ApnsProviderTokens', () => {
  const providers: Provider[] = [];
  const provider = (tokens: ApnsProviderTokens, settings: ApnsSettings) => {
    const built = new Provider({
      token: { key: settings.key, keyId: settings.key_id, teamId: settings.team_id },
      production: false,
    });
    providers.push(built);
    tokens.share(built, settings);
    return built;
  };
  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all(providers.splice(0).map((built) => built.shutdown()));
  });

  it('gives every Provider of one key the token the first one signed', () => {
    const tokens = new ApnsProviderTokens();
    const settings = settingsWith(newKey());
    const first = provider(tokens, settings);
    const again = provider(tokens, settings);
    expect(tokenOf(again)).toBe(tokenOf(first));
    // What node-apn signs for itself otherwise: another token (ECDSA signatures are randomised).
    expect(tokenOf(provider(new ApnsProviderTokens(), settings))).not.toBe(tokenOf(first));
  });

  it('does not give the token to another key uploaded under the same key id', () => {
    const tokens = new ApnsProviderTokens();
    const first = provider(tokens, settingsWith(newKey()));
    expect(tokenOf(provider(tokens, settingsWith(newKey())))).not.toBe(tokenOf(first));
  });

  it('keeps a token 20 minutes after its last Provider shut down (an idle close), then forgets it and its key', () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    try {
      const tokens = new ApnsProviderTokens();
      const settings = settingsWith(newKey());
      const first = provider(tokens, settings);
      tokens.release(first);
      jest.advanceTimersByTime(19 * 60_000);
      // Built again within the 20 minutes: the same token, and it is in use again.
      const again = provider(tokens, settings);
      expect(tokenOf(again)).toBe(tokenOf(first));
      jest.advanceTimersByTime(60 * 60_000);
      expect(tokens.size).toBe(1);
      tokens.release(again);
      jest.advanceTimersByTime(20 * 60_000);
      expect(tokens.size).toBe(0);
      expect(tokenOf(provider(tokens, settings))).not.toBe(tokenOf(first));
    } finally {
      jest.useRealTimers();
    }
  });
});
