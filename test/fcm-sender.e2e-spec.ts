import { FcmSender } from '../apps/dispatcher/src/senders/fcm-sender';
import { SandboxRedirectAgent } from '../apps/dispatcher/src/senders/provider-agent';
import type { ChallengeNotification, SendOutcome } from '../apps/dispatcher/src/senders/push-sender';
import { FcmRetryAfter } from '../apps/dispatcher/src/senders/retry-after';
import { SendSlots } from '../apps/dispatcher/src/senders/send-slots';
import { rsaKeyPair } from './fixtures/keys';
import { fcmDeviceToken } from './fixtures/push-request.builder';
import { FcmPeer } from './peers/fcm-peer';

// The dispatcher's FCM sends share one pooled agent (HTTP/1.1, a socket per send in flight). Past its
// sockets, Node's agent queues requests without a limit, and their timeout starts only on a socket.
describe('FcmSender against an FCM peer, when sends outnumber the sockets (real firebase-admin, TLS)', () => {
  const PROJECT = 'slots-project';
  const EMAIL = 'pusher@slots-project.iam.gserviceaccount.com';
  const SOCKETS = 1;
  const ANSWER_MS = 1500;
  let fcm: FcmPeer;
  let agent: SandboxRedirectAgent;
  let sender: FcmSender;

  const challenge = (expiresAt: number): ChallengeNotification => ({
    challengeId: `c-${Math.random().toString(36).slice(2)}`,
    deviceToken: fcmDeviceToken(),
    title: 'Sign in?',
    body: 'Approve the sign-in',
    category: 'MFA_PROMPT',
    data: {},
    expiresAt: new Date(expiresAt),
  });

  beforeAll(async () => {
    fcm = await FcmPeer.start();
    const pair = rsaKeyPair();
    fcm.registerServiceAccount(EMAIL, pair.publicKey, PROJECT);
    agent = new SandboxRedirectAgent({ host: fcm.host, port: fcm.port }, fcm.caPem);
    agent.maxSockets = SOCKETS;
    sender = new FcmSender(
      { client_email: EMAIL, private_key: pair.privatePem, project_id: PROJECT },
      agent,
      new FcmRetryAfter(),
      { slots: new SendSlots(SOCKETS), waitMs: 2 * ANSWER_MS },
    );
    // The access token first, so the sends below only wait for each other.
    expect(await sender.send(challenge(Date.now() + 60_000))).toMatchObject({ ok: true });
  });
  afterAll(async () => {
    await sender.close();
    agent.destroy();
    await fcm.stop();
  });
  afterEach(() => fcm.setDelay(0));

  it("counts Android's ttl from when a socket is free, so a push waiting for one still dies at expires_at", async () => {
    fcm.setDelay(ANSWER_MS);
    const expiresAt = Date.now() + 20_000;
    const [first, second] = [challenge(expiresAt), challenge(expiresAt)];
    const outcomes = await Promise.all([sender.send(first), sender.send(second)]);
    expect(outcomes).toEqual([expect.objectContaining({ ok: true }), expect.objectContaining({ ok: true })]);
    const delivery = fcm.received.find((d) => d.message?.token === second.deviceToken)!;
    const ttlMs = 1000 * Number(String(delivery.message.android.ttl).replace(/s$/, ''));
    // It waited ANSWER_MS for the socket; FCM's ttl counts from its receipt.
    expect(delivery.receivedAt + ttlMs).toBeLessThanOrEqual(expiresAt + 1000);
  });

  it('gives a send up unsent when no socket frees within the wait, rather than queueing it for ever', async () => {
    fcm.setDelay(3 * ANSWER_MS);
    const sends: Promise<SendOutcome>[] = [];
    const started = Date.now();
    for (let i = 0; i < 3; i++) sends.push(sender.send(challenge(Date.now() + 60_000)));
    const outcomes = await Promise.all(sends);
    expect(outcomes[0]).toMatchObject({ ok: true });
    // The others waited their 2 × ANSWER_MS for the one socket, then gave up without sending.
    for (const outcome of outcomes.slice(1))
      expect(outcome).toMatchObject({
        ok: false,
        retryable: true,
        detail: expect.stringMatching(/connections to FCM stayed busy .*; not sent/),
      });
    expect(fcm.received.filter((d) => d.receivedAt >= started)).toHaveLength(1);
  });
});
