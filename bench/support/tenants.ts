import { createPublicKey, generateKeyPairSync, KeyObject } from 'node:crypto';
import mongoose, { Connection } from 'mongoose';
import { Keyring, SecretBox } from '@lib/crypto';
import {
  checkConfigurationRules,
  MFA_CONFIG_MODEL,
  MfaConfigSchema,
  MfaConfigSealer,
  MfaConfiguration,
  newConfigRecord,
} from '@lib/mfa-config';
import type { PeersProcess } from './peers';

export const BUNDLE = 'com.example.authenticator';

const pem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const publicPem = (key: KeyObject) => createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();

/**
 * Credentials for every benchmark tenant: one APNs key and one service-account key, each tenant
 * under its own key id and account (an RSA key per tenant would take minutes to generate).
 */
export class BenchCredentials {
  readonly apns = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  readonly fcm = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

  keyId(tenant: string): string {
    return appleId(`K${tenant}`);
  }

  /** Each tenant is its own Apple developer team, as each customer is: Apple limits token changes per team. */
  teamId(tenant: string): string {
    return appleId(`T${tenant}`);
  }

  /** A valid Firebase project id (6-30 characters) per tenant. */
  projectId(tenant: string): string {
    return `bench-${tenant.toLowerCase()}`;
  }

  clientEmail(tenant: string): string {
    return `push@${this.projectId(tenant)}.iam.gserviceaccount.com`;
  }

  configuration(tenant: string, strategy: 'code' | 'prompt'): MfaConfiguration {
    return {
      enabled: true,
      provider: 'native',
      type: 'push',
      settings: {
        enabled_clients: ['web-login'],
        strategy,
        apns: {
          bundle_id: BUNDLE,
          key: pem(this.apns),
          key_id: this.keyId(tenant),
          team_id: this.teamId(tenant),
          production: false,
        },
        fcm: {
          client_email: this.clientEmail(tenant),
          private_key: pem(this.fcm),
          project_id: this.projectId(tenant),
        },
      },
    };
  }

  /** Tells the peers to trust these tenants' keys, as Apple and Google would after set-up. */
  async trust(peers: PeersProcess, tenants: string[]): Promise<void> {
    for (let start = 0; start < tenants.length; start += 2000) {
      const slice = tenants.slice(start, start + 2000);
      await peers.call({
        cmd: 'trust',
        apnsKeys: slice.map((tenant) => ({
          keyId: this.keyId(tenant),
          teamId: this.teamId(tenant),
          publicPem: publicPem(this.apns),
        })),
        topics: slice.map((tenant) => ({ teamId: this.teamId(tenant), bundleId: BUNDLE })),
        serviceAccounts: slice.map((tenant) => ({
          clientEmail: this.clientEmail(tenant),
          publicPem: publicPem(this.fcm),
          projectId: this.projectId(tenant),
        })),
      });
    }
  }
}

/** Apple's key and team ids are 10 upper-case letters or digits; 'X' pads, so no two tenants collide. */
function appleId(seed: string): string {
  return seed
    .replace(/[^a-z0-9]/gi, '')
    .toUpperCase()
    .padEnd(10, 'X')
    .slice(0, 10);
}

/**
 * Writes tenants' configurations as the API creates them (checked, sealed, version 1), straight into
 * the store in bulk: one API create at a time took 20 minutes for 10,000 tenants on FerretDB.
 */
export async function seedTenants(
  mongodbUri: string,
  encryptionKeys: string,
  credentials: BenchCredentials,
  tenants: string[],
  strategyOf: (index: number) => 'code' | 'prompt',
): Promise<void> {
  const connection: Connection = await mongoose.createConnection(mongodbUri).asPromise();
  try {
    const model = connection.model(MFA_CONFIG_MODEL, MfaConfigSchema);
    const sealer = new MfaConfigSealer(new SecretBox(Keyring.parse(encryptionKeys)));
    const records = tenants.map((tenant, index) => {
      const configuration = credentials.configuration(tenant, strategyOf(index));
      // What the API would refuse must not be benchmarked either.
      const problems = checkConfigurationRules(configuration);
      if (problems.length) throw new Error(`bench tenant ${tenant}: ${JSON.stringify(problems)}`);
      return newConfigRecord(tenant, 'push', sealer.seal(tenant, configuration));
    });
    for (let start = 0; start < records.length; start += 500)
      await model.insertMany(records.slice(start, start + 500), { ordered: true });
  } finally {
    await connection.close();
  }
}
