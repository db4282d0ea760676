import mongoose, { Connection } from 'mongoose';
import type { AppConfig } from '@lib/config';
import { MFA_CONFIG_MODEL, MfaConfigRepository, MfaConfigSchema, StoredConfigState } from '@lib/mfa-config';

/** The configuration store of a test's own database, its indexes built, for tests below the API. */
export async function openConfigStore(
  config: AppConfig,
): Promise<{ connection: Connection; repository: MfaConfigRepository }> {
  const connection = await mongoose.createConnection(config.mongodbUri).asPromise();
  const model = connection.model(MFA_CONFIG_MODEL, MfaConfigSchema);
  await model.init();
  return { connection, repository: new MfaConfigRepository(model) };
}

/** The smallest valid stored state: a disabled prompt configuration for these clients. */
export const minimalConfigState = (clients: string[]): StoredConfigState => ({
  enabled: false,
  provider: 'native',
  settings: { enabled_clients: clients, strategy: 'prompt' },
});
