import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import { Keyring, SecretBox } from '@lib/crypto';
import { MfaConfigRecord, MfaConfigRepository, MfaConfigSealer, normalizePem } from '@lib/mfa-config';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { openConfigStore } from './support/config-store';
import { testEnvironment } from './support/test-environment';

const keyringEntry = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const ADMIN_SCOPES = ['write:mfa', 'read:mfa', 'update:mfa'];

/** A stored configuration without what the outbox relay changes on its own (publishing its events). */
function withoutOutbox(record: MfaConfigRecord): Partial<MfaConfigRecord> {
  const rest: Partial<MfaConfigRecord> = { ...record };
  delete rest.pending_events;
  delete rest.outbox_pending_since;
  return rest;
}

// A rotation puts a new key first in MFA_ENCRYPTION_KEYS; the API then seals every stored secret again
// with it, so the old key can be removed. Nothing else about the configurations may change.
describe('key rotation (real FerretDB and Kafka)', () => {
  const oldKey = keyringEntry('old');
  const newKey = keyringEntry('new');
  const env = testEnvironment({ MFA_ENCRYPTION_KEYS: oldKey });
  const bodies = {
    both: pushConfigBody(),
    apnsOnly: pushConfigBody({ settings: { fcm: undefined } }),
    lostKey: pushConfigBody(),
  };
  let store: { connection: Connection; repository: MfaConfigRepository };
  let rotated: ConfigApiHarness;
  const before: Record<string, MfaConfigRecord> = {};
  /** The settings each POST answered with: masks and fingerprints. */
  const createdSettings: Record<string, unknown> = {};
  let rotatedAt: number;

  const create = async (api: ConfigApiHarness, tenant: string, body: object) => {
    const token = await api.token(ADMIN_SCOPES, { tenant_id: tenant });
    const res = await api.http().post('/mfa').set('Authorization', `Bearer ${token}`).send(body).expect(201);
    createdSettings[tenant] = res.body.settings;
  };
  const gauge = async (name: string) => {
    const metrics = (await rotated.http().get('/metrics').expect(200)).text;
    // prom-client writes NaN as "Nan", which Prometheus reads as NaN too.
    return Number(metrics.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1]);
  };
  const secretsOnRetiredKeys = () => gauge('mfa_secrets_on_retired_keys');

  beforeAll(async () => {
    const original = await startConfigApi(env);
    await create(original, 'both', bodies.both);
    await create(original, 'apns-only', bodies.apnsOnly);
    await create(original, 'older-id', pushConfigBody());
    await original.close();
    store = await openConfigStore(original.config);
    // As stored before ids were tenant/type.
    const configs = store.connection.collection<MfaConfigRecord>('mfa_configs');
    const olderId = (await configs.findOneAndDelete({ _id: 'older-id/push' }))!;
    await configs.insertOne({ ...olderId, _id: 'id-of-an-older-scheme' });
    // Sealed with a key the rotated API will not hold: one removed too early.
    const { apns, fcm, ...settings } = bodies.lostKey.settings;
    const sealedWithGoneKey = new MfaConfigSealer(new SecretBox(Keyring.parse(keyringEntry('gone'))));
    await store.repository.create(
      'lost-key',
      'push',
      sealedWithGoneKey.seal('lost-key', {
        ...bodies.lostKey,
        type: 'push',
        provider: 'native',
        settings: { ...settings, strategy: 'prompt', apns: { ...apns, production: true }, fcm },
      }),
    );
    for (const tenant of ['both', 'apns-only', 'lost-key'])
      before[tenant] = (await store.repository.findAny(tenant, 'push'))!;

    rotatedAt = Date.now() / 1000;
    rotated = await startConfigApi({ ...env, MFA_ENCRYPTION_KEYS: `${newKey},${oldKey}` });
    // The first pass runs in the background after start.
    const deadline = Date.now() + 30_000;
    while (Number.isNaN(await secretsOnRetiredKeys()) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await secretsOnRetiredKeys()).toBe(1);
    expect(await gauge('mfa_secrets_last_reseal_pass_timestamp_seconds')).toBeGreaterThan(rotatedAt);
  });
  afterAll(async () => {
    await rotated?.close();
    await store?.connection.dropDatabase().catch(() => undefined);
    await store?.connection.close();
  });

  it('seals every secret again with the new first key, which alone then opens them', async () => {
    const onlyNewKey = new MfaConfigSealer(new SecretBox(Keyring.parse(newKey)));
    const both = (await store.repository.findAny('both', 'push'))!;
    expect([both.settings!.apns!.key.kid, both.settings!.fcm!.private_key.kid]).toEqual(['new', 'new']);
    const opened = onlyNewKey.open(both).settings;
    expect(opened.apns!.key).toBe(normalizePem(bodies.both.settings.apns.key));
    expect(opened.fcm!.private_key).toBe(normalizePem(bodies.both.settings.fcm.private_key));

    const apnsOnly = (await store.repository.findAny('apns-only', 'push'))!;
    expect(apnsOnly.settings!.apns!.key.kid).toBe('new');
    expect(apnsOnly.settings!.fcm).toBeUndefined();
    expect(onlyNewKey.open(apnsOnly).settings.apns!.key).toBe(
      normalizePem(bodies.apnsOnly.settings.apns.key),
    );
  });

  it('also re-seals a configuration stored under an id of an older scheme', async () => {
    const stored = (await store.repository.findLiveById('id-of-an-older-scheme'))!;
    expect([stored.settings!.apns!.key.kid, stored.settings!.fcm!.private_key.kid]).toEqual(['new', 'new']);
  });

  it('changes nothing else: same version, no new event, same fingerprints through the API', async () => {
    for (const tenant of ['both', 'apns-only']) {
      const after = (await store.repository.findAny(tenant, 'push'))!;
      const { settings: settingsBefore, ...restBefore } = withoutOutbox(before[tenant]);
      const { settings: settingsAfter, ...restAfter } = withoutOutbox(after);
      expect(restAfter).toEqual(restBefore);
      expect(after.pending_events.filter((event) => event.version > before[tenant].version)).toEqual([]);
      expect(settingsAfter!.apns!.key_fingerprint).toBe(settingsBefore!.apns!.key_fingerprint);
      expect(settingsAfter!.apns!.key.ciphertext).not.toBe(settingsBefore!.apns!.key.ciphertext);

      const token = await rotated.token(['read:mfa'], { tenant_id: tenant });
      const res = await rotated.http().get('/mfa/push').set('Authorization', `Bearer ${token}`).expect(200);
      expect(res.body.settings).toEqual(createdSettings[tenant]);
      expect(res.body.version).toBe(before[tenant].version);
    }
  });

  it('leaves a secret whose key is gone as it was, and counts it', async () => {
    const after = (await store.repository.findAny('lost-key', 'push'))!;
    expect(withoutOutbox(after)).toEqual(withoutOutbox(before['lost-key']));
    expect(await secretsOnRetiredKeys()).toBe(1);
    expect(await gauge('mfa_secrets_last_reseal_pass_timestamp_seconds')).toBeGreaterThan(rotatedAt);
  });

  it('lets an admin replace a secret no key opens any more with a PATCH, and says so when one is missing', async () => {
    const token = await rotated.token(ADMIN_SCOPES, { tenant_id: 'lost-key' });
    const patch = (body: object) =>
      rotated.http().patch('/mfa/push').set('Authorization', `Bearer ${token}`).send(body);
    const fresh = pushConfigBody().settings;
    // Only the APNs key sent: the FCM key stays unreadable, and the answer names it.
    const partial = await patch({ settings: { apns: { key: fresh.apns.key } } }).expect(400);
    expect(partial.body.details).toEqual([
      {
        path: 'settings.fcm.private_key',
        message: expect.stringContaining('can no longer be decrypted'),
      },
    ]);
    const replaced = await patch({
      settings: { apns: { key: fresh.apns.key }, fcm: { private_key: fresh.fcm.private_key } },
    }).expect(200);
    expect(replaced.body.version).toBe(before['lost-key'].version + 1);
    const stored = (await store.repository.findAny('lost-key', 'push'))!;
    const opened = new MfaConfigSealer(new SecretBox(Keyring.parse(newKey))).open(stored).settings;
    expect(opened.apns!.key).toBe(normalizePem(fresh.apns.key));
    expect(opened.fcm!.private_key).toBe(normalizePem(fresh.fcm.private_key));
  });

  it('never overwrites a configuration written since it was read', async () => {
    const read = (await store.repository.findAny('both', 'push'))!;
    const token = await rotated.token(ADMIN_SCOPES, { tenant_id: 'both' });
    await rotated
      .http()
      .patch('/mfa/push')
      .set('Authorization', `Bearer ${token}`)
      .send({ settings: { enabled_clients: ['changed'] } })
      .expect(200);
    expect(await store.repository.replaceSealedSettings(read, read.settings!)).toBe(false);
    const stored = (await store.repository.findAny('both', 'push'))!;
    expect(stored.settings!.enabled_clients).toEqual(['changed']);
  });
});
