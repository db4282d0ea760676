import { Global, Module } from '@nestjs/common';
import { join } from 'node:path';
import { APP_CONFIG, AppConfig, InvalidEnvironmentError } from '@lib/config';
import { Keyring } from './keyring';
import { SecretBox } from './secret-box';

/** The keyring; a missing or malformed MFA_ENCRYPTION_KEYS stops the start like any bad variable (no stack). */
export function keyringFromConfig(config: AppConfig): Keyring {
  if (config.encryptionKeys) {
    try {
      return Keyring.parse(config.encryptionKeys);
    } catch (error) {
      throw new InvalidEnvironmentError([(error as Error).message]);
    }
  }
  if (config.auth.mode === 'dev')
    return Keyring.loadOrCreateDevKeyring(join(config.localStateDir, 'dev', 'encryption.key'));
  throw new InvalidEnvironmentError([
    'MFA_ENCRYPTION_KEYS is not set: secrets cannot be stored. Set it to kid:base64-32-byte-key (openssl rand -base64 32), or run with AUTH_MODE=dev for local development.',
  ]);
}

/**
 * For loadAppConfig: a malformed MFA_ENCRYPTION_KEYS (or dev keyring) in the same list as every other
 * bad variable, so that one start names them all, before Nest starts (Nest reports an error in a
 * module's factory itself, with its stack). A missing one loadAppConfig names itself.
 */
export function keyringProblems(config: AppConfig): string[] {
  if (!config.encryptionKeys && config.auth.mode !== 'dev') return [];
  // Refused in production anyway: no dev key file written for a start that will not happen.
  if (!config.encryptionKeys && config.nodeEnv === 'production') return [];
  try {
    keyringFromConfig(config);
    return [];
  } catch (error) {
    if (error instanceof InvalidEnvironmentError) return error.problems;
    throw error;
  }
}

@Global()
@Module({
  providers: [
    { provide: Keyring, inject: [APP_CONFIG], useFactory: keyringFromConfig },
    { provide: SecretBox, inject: [Keyring], useFactory: (keyring: Keyring) => new SecretBox(keyring) },
  ],
  exports: [SecretBox, Keyring],
})
export class CryptoModule {}
