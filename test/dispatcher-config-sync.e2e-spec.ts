import { randomUUID } from 'node:crypto';
import { getApps } from 'firebase-admin/app';
import { Kafka, logLevel } from 'kafkajs';
import { ConfigChangedEvent, configChangedKey, resolveTopicNames } from '@lib/contracts';
import { SecretBox } from '@lib/crypto';
import { ApnsSettings, MfaConfigRepository, MfaConfigSealer, MfaConfiguration } from '@lib/mfa-config';
import { LiveClientRegistry } from '../apps/dispatcher/src/config-sync/live-client-registry';
import { DispatcherMetrics } from '../apps/dispatcher/src/metrics/dispatcher-metrics';
import { tenantCredentials } from './fixtures/keys';
import { fcmDeviceToken, pushRequest } from './fixtures/push-request.builder';
import { ApnsPeer } from './peers/apns-peer';
import { FcmPeer } from './peers/fcm-peer';
import { ConfigApiHarness, startConfigApi } from './support/config-api.harness';
import { DispatcherStack, startDispatcherStack } from './support/dispatcher.harness';
import {
  PushConfigAdmin,
  revokeServiceAccount,
  trustedApnsKey,
  trustedPushSettings,
  trustedServiceAccount,
  waitAppliedOn,
  waitUntil,
} from './support/push-tenants';
import { testEnvironment } from './support/test-environment';
import { topicSize } from './support/topic-reader';

const isIsoTimestamp = (value: unknown) =>
  typeof value === 'string' && !isNaN(Date.parse(value)) && new Date(value).toISOString() === value;

/** Names of the live firebase-admin apps sending for a project. */
const firebaseAppsOf = (projectId: string) =>
  getApps()
    .filter((app) => app.options.projectId === projectId)
    .map((app) => app.name);

describe('dispatcher configuration sync (real Kafka, FerretDB, node-apn and firebase-admin against loopback peers)', () => {
  let apns: ApnsPeer;
  let fcm: FcmPeer;

  beforeAll(async () => {
    [apns, fcm] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
  });
  afterAll(async () => {
    await Promise.allSettled([apns.stop(), fcm.stop()]);
  });
  afterEach(() => {
    apns.clearFaults();
    fcm.clearFaults();
  });

  describe('changes made through the config-api', () => {
    const env = testEnvironment();
    /** How long the peer holds an answer: far longer than a configuration change takes to apply. */
    const HOLD_MS = 15_000;
    let api: ConfigApiHarness;
    let stack: DispatcherStack;
    let admin: PushConfigAdmin;

    beforeAll(async () => {
      api = await startConfigApi(env);
      stack = await startDispatcherStack(
        env,
        { apns, fcm },
        {
          // A held send must not time out into a retry, which would hide what the swap did to it.
          PUSH_SEND_TIMEOUT_MS: String(3 * HOLD_MS),
          // Only a swap closes sessions here, so the peer's session count shows what the swap closed.
          PUSH_IDLE_SESSION_TIMEOUT_MS: '600000',
        },
      );
      admin = new PushConfigAdmin(api, stack.applied);
    });
    afterAll(async () => {
      await stack?.close();
      await api?.close();
    });

    // First in this block: no session is open yet, so the count moves only with this tenant's.
    it('closes replaced APNs clients only after their in-flight send: that push reports the old version, sent once', async () => {
      const oldKey = trustedApnsKey(apns);
      const oldVersion = await admin.create(
        'draining',
        trustedPushSettings({ apns, fcm }, 'draining', { apns: oldKey }),
      );
      const sessionsBefore = apns.openSessions;
      apns.setDelay(HOLD_MS);
      const inFlight = pushRequest({ tenant: 'draining' });
      await stack.requester.request(inFlight);
      // Clients open their session on their first send, inside the lease a swap waits for.
      await waitUntil(() => apns.openSessions > sessionsBefore, 'sending on the old clients', 30_000);

      const newKey = trustedApnsKey(apns);
      const newVersion = await admin.patch('draining', {
        settings: { apns: { key: newKey.key, key_id: newKey.key_id } },
      });
      // The new clients are live, yet the held push is unanswered and its session still open.
      expect(apns.received.filter((d) => d.token === inFlight.device.token)).toEqual([]);
      expect(apns.openSessions).toBe(sessionsBefore + 1);
      apns.setDelay(0);

      // A session closed under it would have failed the send and retried it on the new clients.
      expect(await stack.resultOf(inFlight.challenge_id, 3 * HOLD_MS)).toMatchObject({
        status: 'sent',
        config_version: oldVersion,
        attempts: 1,
      });
      expect(
        apns.received.filter((d) => d.token === inFlight.device.token).map((d) => [d.status, d.keyId]),
      ).toEqual([[200, oldKey.key_id]]);
      await waitUntil(() => apns.openSessions === sessionsBefore, 'closed: the drained old session');

      const next = pushRequest({ tenant: 'draining' });
      await stack.requester.request(next);
      expect(await stack.resultOf(next.challenge_id)).toMatchObject({
        status: 'sent',
        config_version: newVersion,
        attempts: 1,
      });
      expect(apns.delivered().find((d) => d.token === next.device.token)?.keyId).toBe(newKey.key_id);
    }, 120_000);

    it('a rotated FCM service account gets a fresh firebase-admin app whose token exchange uses it, and no push is lost', async () => {
      const projectId = 'proj-fcm-rotation';
      const oldAccount = trustedServiceAccount(fcm, projectId);
      const oldVersion = await admin.create(
        'fcm-rotation',
        trustedPushSettings({ apns, fcm }, 'fcm-rotation', { fcm: oldAccount }),
      );
      const fcmPush = () =>
        pushRequest({ tenant: 'fcm-rotation', device: { provider: 'fcm', token: fcmDeviceToken() } });
      const bearerOf = (token: string) =>
        fcm.delivered().find((d) => d.message.token === token)?.authorization;

      const before = fcmPush();
      await stack.requester.request(before);
      expect(await stack.resultOf(before.challenge_id)).toMatchObject({
        status: 'sent',
        config_version: oldVersion,
      });
      const oldBearer = bearerOf(before.device.token);
      const [oldApp, ...others] = firebaseAppsOf(projectId);
      expect({ oldApp, others }).toEqual({ oldApp: expect.any(String), others: [] });

      const newAccount = trustedServiceAccount(fcm, projectId);
      // As once the admin deletes the old key at Google: from now on only the new account gets tokens.
      revokeServiceAccount(fcm, oldAccount);
      fcm.setDelay(2000);
      const inFlight = [fcmPush(), fcmPush(), fcmPush()];
      await Promise.all(inFlight.map((request) => stack.requester.request(request)));
      const newVersion = await admin.patch('fcm-rotation', {
        settings: { fcm: { client_email: newAccount.client_email, private_key: newAccount.private_key } },
      });
      fcm.setDelay(0);

      for (const request of inFlight) {
        expect(await stack.resultOf(request.challenge_id, 30_000)).toMatchObject({ status: 'sent' });
        expect(
          fcm.received.filter((d) => d.message.token === request.device.token).map((d) => d.status),
        ).toEqual([200]);
      }
      const after = fcmPush();
      await stack.requester.request(after);
      expect(await stack.resultOf(after.challenge_id)).toMatchObject({
        status: 'sent',
        config_version: newVersion,
        attempts: 1,
      });
      // A bearer never seen before is a new token exchange, which the peer grants the new account only.
      expect(bearerOf(after.device.token)).toEqual(expect.stringMatching(/^Bearer /));
      expect(bearerOf(after.device.token)).not.toBe(oldBearer);
      // The old app is deleted once its sends are done; the new one has a name of its own.
      await waitUntil(
        () => !firebaseAppsOf(projectId).includes(oldApp),
        'deleted: the old firebase-admin app',
      );
      expect(firebaseAppsOf(projectId)).toHaveLength(1);
    }, 120_000);

    it('presents one provider token per APNs key: a new version or another tenant of the key is not a token update Apple counts', async () => {
      // Its own team: the peer counts a team's token changes (Apple: at most one per 20 minutes).
      const team = 'TEAMTOKENS';
      const { apnsKey, apnsPublicKey } = tenantCredentials();
      apns.registerKey('TOKENS0001', team, apnsPublicKey);
      const key: ApnsSettings = {
        ...trustedApnsKey(apns),
        key: apnsKey,
        key_id: 'TOKENS0001',
        team_id: team,
      };
      apns.setMaxProviderTokenUpdates(0);
      try {
        const pushOf = async (tenant: string) => {
          const request = pushRequest({ tenant });
          await stack.requester.request(request);
          return stack.resultOf(request.challenge_id);
        };
        await admin.create('tokens-a', trustedPushSettings({ apns, fcm }, 'tokens-a', { apns: key }));
        expect(await pushOf('tokens-a')).toMatchObject({ status: 'sent' });
        // A new version with the same key, then another tenant of it: each builds a Provider of its own.
        await admin.patch('tokens-a', { settings: { enabled_clients: ['web-login', 'mobile'] } });
        expect(await pushOf('tokens-a')).toMatchObject({ status: 'sent', attempts: 1 });
        await admin.create('tokens-b', trustedPushSettings({ apns, fcm }, 'tokens-b', { apns: key }));
        expect(await pushOf('tokens-b')).toMatchObject({ status: 'sent', attempts: 1 });
        expect(apns.received.filter((d) => d.teamId === team).map((d) => d.status)).toEqual([200, 200, 200]);
      } finally {
        apns.setMaxProviderTokenUpdates(1000);
      }
    });

    it('ignores stale and duplicate configuration events: the live clients stay, pushes keep the current key', async () => {
      await admin.create('steady', trustedPushSettings({ apns, fcm }, 'steady'));
      const currentKey = trustedApnsKey(apns);
      const version = await admin.patch('steady', {
        settings: { apns: { key: currentKey.key, key_id: currentKey.key_id } },
      });
      const registry = stack.dispatcher.app.get(LiveClientRegistry);
      const metrics = stack.dispatcher.app.get(DispatcherMetrics);
      const reloads = async () =>
        (await metrics.configReloads.get()).values.reduce((sum, { value }) => sum + value, 0);
      const live = registry.get('steady');
      expect(live?.version).toBe(version);
      const reloadsBefore = await reloads();
      const reportsBefore = stack.applied.messages.filter((m) => m.value.tenant === 'steady');

      const topic = resolveTopicNames(stack.dispatcher.config.kafka).configChanged;
      for (const staleVersion of [version - 1, version]) {
        const event: ConfigChangedEvent = {
          event_id: randomUUID(),
          type: 'mfa.config.changed',
          tenant: 'steady',
          mfa_type: 'push',
          version: staleVersion,
          change: 'updated',
          occurred_at: new Date().toISOString(),
        };
        await stack.requester.raw(configChangedKey('steady', 'push'), JSON.stringify(event), topic);
      }
      // One key, one partition, handled in order: the duplicate is answered with its report again,
      // so once that report is here the older event was handled too.
      await stack.applied.waitFor(
        (m) => m.value.tenant === 'steady' && m.value.version === version && !reportsBefore.includes(m),
      );
      expect({ rebuilt: registry.get('steady') !== live }).toEqual({ rebuilt: false });
      expect(await reloads()).toBe(reloadsBefore);

      const request = pushRequest({ tenant: 'steady' });
      await stack.requester.request(request);
      expect(await stack.resultOf(request.challenge_id)).toMatchObject({
        status: 'sent',
        config_version: version,
      });
      expect(apns.delivered().find((d) => d.token === request.device.token)?.keyId).toBe(currentKey.key_id);
    });

    it('stamps every result with when it was requested and when it was completed', async () => {
      await admin.create('stamped', trustedPushSettings({ apns, fcm }, 'stamped'));
      const sent = pushRequest({ tenant: 'stamped' });
      const rejected = pushRequest({ tenant: 'not-configured' });
      const producedFrom = Date.now();
      await Promise.all([sent, rejected].map((request) => stack.requester.request(request)));

      const sentResult = await stack.resultOf(sent.challenge_id);
      const rejectedResult = await stack.resultOf(rejected.challenge_id);
      const seenBy = Date.now();
      expect(sentResult.status).toBe('sent');
      expect(rejectedResult.status).toBe('rejected');
      for (const result of [sentResult, rejectedResult]) {
        expect(isIsoTimestamp(result.requested_at)).toBe(true);
        expect(isIsoTimestamp(result.completed_at)).toBe(true);
        const requestedAt = Date.parse(result.requested_at!);
        const completedAt = Date.parse(result.completed_at);
        // requested_at is when the request was produced (its Kafka timestamp), not when it was handled.
        expect(requestedAt).toBeGreaterThanOrEqual(producedFrom);
        expect(requestedAt).toBeLessThanOrEqual(completedAt);
        expect(completedAt).toBeLessThanOrEqual(seenBy);
      }
      // The push reached the peer in between.
      const { receivedAt } = apns.delivered().find((d) => d.token === sent.device.token)!;
      expect(Date.parse(sentResult.requested_at!)).toBeLessThanOrEqual(receivedAt);
      expect(Date.parse(sentResult.completed_at)).toBeGreaterThanOrEqual(receivedAt);
    });
  });

  describe('start-up load', () => {
    const env = testEnvironment();
    let stack: DispatcherStack | undefined;
    afterAll(async () => {
      await stack?.close();
    });

    it('checks stored keys once serving: a configuration whose stored key is broken is taken out of service and reported failed', async () => {
      // Stored before the dispatcher starts, through a first dispatcher's own repository and sealer.
      const writer = await startDispatcherStack(env, { apns, fcm }, {});
      const repository = writer.dispatcher.app.get(MfaConfigRepository);
      const sealer = writer.dispatcher.app.get(MfaConfigSealer);
      const stored = (tenant: string, apnsKey: ApnsSettings): MfaConfiguration => ({
        enabled: true,
        provider: 'native',
        type: 'push',
        settings: { ...trustedPushSettings({ apns, fcm }, tenant), apns: apnsKey },
      });
      await repository.create('sound', 'push', sealer.seal('sound', stored('sound', trustedApnsKey(apns))));
      // A key that no longer parses (a bad restore, say; the API refuses such keys, so it is written
      // here sealed by hand, bound to its field as the sealer binds it): only parsing it shows it.
      const rotten = sealer.seal('rotten', stored('rotten', trustedApnsKey(apns)));
      rotten.settings!.apns!.key = writer.dispatcher.app
        .get(SecretBox)
        .seal(
          '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
          'rotten/push/settings.apns.key',
        );
      await repository.create('rotten', 'push', rotten);
      await writer.close();

      stack = await startDispatcherStack(env, { apns, fcm }, {});
      const report = await stack.applied.waitFor((m) => m.value.tenant === 'rotten' && m.value.version === 1);
      expect(report.value).toMatchObject({ status: 'failed', error: expect.stringContaining('private key') });
      // Stored while no dispatcher listened, so no report of it was ever recorded: the start-up load sends one.
      const sound = await stack.applied.waitFor((m) => m.value.tenant === 'sound' && m.value.version === 1);
      expect(sound.value).toMatchObject({ status: 'applied' });
      expect(
        stack.applied.messages.filter((m) => m.value.tenant === 'rotten').map((m) => m.value.status),
      ).toEqual(['failed']);
      const toSound = pushRequest({ tenant: 'sound' });
      const toRotten = pushRequest({ tenant: 'rotten' });
      await Promise.all([toSound, toRotten].map((request) => stack!.requester.request(request)));
      expect(await stack.resultOf(toSound.challenge_id)).toMatchObject({ status: 'sent', config_version: 1 });
      expect(await stack.resultOf(toRotten.challenge_id)).toMatchObject({
        status: 'rejected',
        reason: 'mfa_not_configured',
      });
    });
  });

  // No config-api here: nothing relays the events that writes leave in the store, as if they were lost.
  describe('periodic full resync', () => {
    const env = testEnvironment();
    let stack: DispatcherStack;

    beforeAll(async () => {
      stack = await startDispatcherStack(env, { apns, fcm }, { CONFIG_RESYNC_INTERVAL_MS: '1000' });
    });
    afterAll(async () => {
      await stack?.close();
    });

    it('applies a change whose configuration-changed event was never published', async () => {
      const repository = stack.dispatcher.app.get(MfaConfigRepository);
      const sealer = stack.dispatcher.app.get(MfaConfigSealer);
      const firstKey = trustedApnsKey(apns);
      const settings = trustedPushSettings({ apns, fcm }, 'resynced', { apns: firstKey });
      const configuration = (apnsKey: ApnsSettings): MfaConfiguration => ({
        enabled: true,
        provider: 'native',
        type: 'push',
        settings: { ...settings, apns: apnsKey },
      });
      // Written as the config-api writes, after the dispatcher started: only a resync can find it.
      await repository.create('resynced', 'push', sealer.seal('resynced', configuration(firstKey)));
      await waitAppliedOn(stack.applied, 'resynced', 1);
      const first = pushRequest({ tenant: 'resynced' });
      await stack.requester.request(first);
      expect(await stack.resultOf(first.challenge_id)).toMatchObject({ status: 'sent', config_version: 1 });
      expect(apns.delivered().find((d) => d.token === first.device.token)?.keyId).toBe(firstKey.key_id);

      const secondKey = trustedApnsKey(apns);
      const stored = (await repository.findLive('resynced', 'push'))!;
      await repository.update(stored, sealer.seal('resynced', configuration(secondKey)));
      await waitAppliedOn(stack.applied, 'resynced', 2);
      const second = pushRequest({ tenant: 'resynced' });
      await stack.requester.request(second);
      expect(await stack.resultOf(second.challenge_id)).toMatchObject({ status: 'sent', config_version: 2 });
      expect(apns.delivered().find((d) => d.token === second.device.token)?.keyId).toBe(secondKey.key_id);

      // No event ever reached the topic: the resync alone applied both versions.
      const kafka = new Kafka({ brokers: stack.dispatcher.config.kafka.brokers, logLevel: logLevel.NOTHING });
      expect(await topicSize(kafka, resolveTopicNames(stack.dispatcher.config.kafka).configChanged)).toBe(0);
    });
  });
});
