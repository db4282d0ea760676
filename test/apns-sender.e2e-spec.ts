import { ApnsSender, connectionOpen } from '../apps/dispatcher/src/senders/apns-sender';
import type { ChallengeNotification, SendOutcome } from '../apps/dispatcher/src/senders/push-sender';
import { tenantCredentials } from './fixtures/keys';
import { apnsDeviceToken } from './fixtures/push-request.builder';
import { ApnsPeer } from './peers/apns-peer';

// Apple allows one stream on a new connection until it has checked the provider token (the peer
// starts each connection at one concurrent stream, as Apple does): a burst sent at once on a new
// connection has all but one request refused, each then a retry round for its sign-in.
describe('ApnsSender against an APNs peer (real node-apn, HTTP/2 and TLS)', () => {
  const TEAM = 'TEAM123456';
  const KEY_ID = 'SENDERKEY1';
  let apns: ApnsPeer;
  let sender: ApnsSender;

  const challenge = (): ChallengeNotification => ({
    challengeId: `c-${Math.random().toString(36).slice(2)}`,
    deviceToken: apnsDeviceToken(),
    title: 'Sign in?',
    body: 'Approve the sign-in',
    category: 'MFA_PROMPT',
    data: {},
    expiresAt: new Date(Date.now() + 60_000),
  });
  const burst = (count: number): Promise<SendOutcome[]> =>
    Promise.all(Array.from({ length: count }, () => sender.send(challenge())));

  beforeAll(async () => {
    apns = await ApnsPeer.start();
    const credentials = tenantCredentials();
    apns.registerKey(KEY_ID, TEAM, credentials.apnsPublicKey);
    sender = new ApnsSender(
      {
        bundle_id: 'com.example.app',
        key: credentials.apnsKey,
        key_id: KEY_ID,
        team_id: TEAM,
        production: false,
      },
      { apnsEndpoint: { host: apns.host, port: apns.port }, caPem: apns.caPem },
      5000,
    );
  });
  afterAll(async () => {
    await sender.close();
    await apns.stop();
  });

  it("sends a new client's first request alone, so a burst on it is not refused", async () => {
    const outcomes = await burst(10);
    expect(outcomes.filter((outcome) => !outcome.ok)).toEqual([]);
  });

  it('does so again on the connection node-apn opens by itself after a reset', async () => {
    apns.resetConnectionsNext(1);
    expect(await sender.send(challenge())).toMatchObject({ ok: false, retryable: true });
    // The client stays; its connection is gone, and node-apn connects again on the next send.
    const outcomes = await burst(10);
    expect(outcomes.filter((outcome) => !outcome.ok)).toEqual([]);
  });

  it('finds node-apn’s connection where the gate looks for it (Provider.client.session)', async () => {
    const client = (sender as unknown as { client?: object }).client;
    expect(client).toBeDefined();
    const session = (client as { client?: { session?: unknown } }).client?.session;
    expect(session).toBeDefined();
    expect(connectionOpen(client as never)).toBe(true);
  });
});
