import { randomBytes } from 'node:crypto';
import type { ApnsSettings, FcmSettings, PushMfaSettings } from '@lib/mfa-config';
import { rsaKeyPair, tenantCredentials } from '../fixtures/keys';
import type { ApnsPeer } from '../peers/apns-peer';
import type { FcmPeer } from '../peers/fcm-peer';
import type { ConfigApiHarness } from './config-api.harness';
import type { ReadMessage, TopicReader } from './topic-reader';

export const TEAM = 'TEAM123456';
export const BUNDLE = 'com.acme.authenticator';

/** A fresh .p8 key under a new key id, which the APNs peer trusts for TEAM (and BUNDLE). */
export function trustedApnsKey(apns: ApnsPeer): ApnsSettings {
  const { apnsKey, apnsPublicKey } = tenantCredentials();
  const keyId = randomBytes(5).toString('hex').toUpperCase();
  apns.registerKey(keyId, TEAM, apnsPublicKey);
  apns.allowTopic(TEAM, BUNDLE);
  return { bundle_id: BUNDLE, key: apnsKey, key_id: keyId, team_id: TEAM, production: false };
}

/** A fresh service account of the project (new client_email, new key), which the FCM peer trusts. */
export function trustedServiceAccount(fcm: FcmPeer, projectId: string): FcmSettings {
  const { privatePem, publicKey } = rsaKeyPair();
  const clientEmail = `push-${randomBytes(4).toString('hex')}@${projectId}.iam.gserviceaccount.com`;
  fcm.registerServiceAccount(clientEmail, publicKey, projectId);
  return { client_email: clientEmail, private_key: privatePem, project_id: projectId };
}

/** What Google does once the admin deletes the old key: assertions it signs are refused from now on. */
export function revokeServiceAccount(fcm: FcmPeer, account: FcmSettings): void {
  fcm.registerServiceAccount(account.client_email, rsaKeyPair().publicKey, account.project_id);
}

/** Complete push settings for the "web-login" client with credentials both peers trust. */
export function trustedPushSettings(
  peers: { apns: ApnsPeer; fcm: FcmPeer },
  tenant: string,
  overrides: Partial<PushMfaSettings> = {},
): PushMfaSettings {
  const {
    apns = trustedApnsKey(peers.apns),
    fcm = trustedServiceAccount(peers.fcm, `proj-${tenant}`.toLowerCase()),
    ...rest
  } = overrides;
  return { enabled_clients: ['web-login'], strategy: 'prompt', apns, fcm, ...rest };
}

/** An admin changing configurations through the REST API, waiting each time until the dispatcher applied it. */
export class PushConfigAdmin {
  constructor(
    private readonly api: ConfigApiHarness,
    private readonly applied: TopicReader,
  ) {}

  /** POST /mfa; resolves with the version once applied. */
  async create(tenant: string, settings: PushMfaSettings): Promise<number> {
    const token = await this.api.token(['write:mfa'], { tenant_id: tenant });
    const res = await this.api
      .http()
      .post('/mfa')
      .set('Authorization', `Bearer ${token}`)
      .send({ enabled: true, provider: 'native', type: 'push', settings })
      .expect(201);
    await this.waitApplied(tenant, res.body.version);
    return res.body.version as number;
  }

  /** PATCH /mfa/push; resolves with the new version once applied. */
  async patch(tenant: string, body: object): Promise<number> {
    const token = await this.api.token(['update:mfa'], { tenant_id: tenant });
    const res = await this.api
      .http()
      .patch('/mfa/push')
      .set('Authorization', `Bearer ${token}`)
      .send(body)
      .expect(200);
    await this.waitApplied(tenant, res.body.version);
    return res.body.version as number;
  }

  private async waitApplied(tenant: string, version: number): Promise<ReadMessage> {
    return waitAppliedOn(this.applied, tenant, version);
  }
}

/** Waits on mfa.config.applied for the report of this version; a failed apply throws with its error. */
export async function waitAppliedOn(
  applied: TopicReader,
  tenant: string,
  version: number,
  timeoutMs?: number,
): Promise<ReadMessage> {
  const report = await applied.waitFor(
    (m) => m.value.tenant === tenant && m.value.version === version,
    timeoutMs,
  );
  if (report.value.status !== 'applied')
    throw new Error(`${tenant} v${version} was not applied: ${String(report.value.error)}`);
  return report;
}

/** Polls until the condition holds; rejects naming what it waited for. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`still not ${what} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
