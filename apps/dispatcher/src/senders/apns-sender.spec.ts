import { generateKeyPairSync } from 'node:crypto';
import { Notification, Provider, Responses, ResponseFailure, ResponseSent } from '@parse/node-apn';
import { ApnsProviderTokens } from './apns-provider-tokens';
import { ApnsSender } from './apns-sender';
import { payloadBytes, type ChallengeNotification } from './push-sender';

const requestTimeoutMs = 20;
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
  type: 'pkcs8',
  format: 'pem',
}) as string;
const challenge: ChallengeNotification = {
  challengeId: 'c-1',
  deviceToken: 'a'.repeat(64),
  title: 'Sign in?',
  body: 'Approve the sign-in',
  category: 'MFA_PROMPT',
  data: { challenge_id: 'c-1' },
  expiresAt: new Date(Date.now() + 60_000),
};

const sender = (timeoutMs = requestTimeoutMs, tokens = new ApnsProviderTokens()) =>
  new ApnsSender(
    { bundle_id: 'com.example.app', key, key_id: 'ABC1234567', team_id: 'TEAM123456', production: false },
    { apnsEndpoint: { host: '127.0.0.1', port: 9 } },
    timeoutMs,
    tokens,
  );

// The guards against node-apn calls that never settle (node-apn#665, and its shutdown after a reset).
// A lost send could not be provoked on purpose through a peer (it happened under 500s and session
// churn in the chaos campaign), so here the SDK's own call is the one thing replaced.
describe('ApnsSender when node-apn never settles a call', () => {
  afterEach(() => jest.restoreAllMocks());

  it('fails it as retryable after node-apn’s own worst case, and sends the next on a new client', async () => {
    const sent: Responses<ResponseSent, ResponseFailure> = { sent: [{ device: 'x' }], failed: [] };
    const clients = new Set<Provider>();
    const send = jest
      .spyOn(Provider.prototype, 'send')
      .mockImplementationOnce(function (this: Provider) {
        clients.add(this);
        return new Promise(() => undefined);
      })
      .mockImplementationOnce(function (this: Provider) {
        clients.add(this);
        return Promise.resolve(sent);
      });
    const shutdown = jest.spyOn(Provider.prototype, 'shutdown');
    const tokens = new ApnsProviderTokens();
    const release = jest.spyOn(tokens, 'release');
    const apns = sender(requestTimeoutMs, tokens);

    const lost = await apns.send(challenge);
    const next = await apns.send(challenge);
    await apns.close();

    expect(lost).toMatchObject({ ok: false, retryable: true, reason: 'provider_error' });
    // Six request timeouts: node-apn's first try and three retries, its session's close, a margin.
    expect(lost.ok || lost.detail).toMatch(/neither answered nor failed the request within 120 ms/);
    expect(next).toEqual({ ok: true, providerMessageId: undefined });
    expect(send).toHaveBeenCalledTimes(2);
    expect(clients.size).toBe(2);
    expect(shutdown).toHaveBeenCalledTimes(2);
    // Each client gives its key's provider token back once it is shut down.
    expect(release.mock.calls.map(([client]) => clients.has(client))).toEqual([true, true]);
    expect(new Set(release.mock.calls.map(([client]) => client)).size).toBe(2);
  });

  const timeoutMs = 100;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** A request sent `afterMs` after a first one: its outcome, and how long it took. */
  async function queuedBehindAFirst(afterMs: number) {
    const apns = sender(timeoutMs);
    const first = apns.send(challenge);
    await sleep(afterMs);
    const queuedAt = Date.now();
    const queued = await apns.send(challenge);
    const tookMs = Date.now() - queuedAt;
    await first;
    await apns.close();
    return { queued, tookMs };
  }

  it('gives a request up unsent after half a request timeout behind a first one Apple has not answered', async () => {
    const send = jest
      .spyOn(Provider.prototype, 'send')
      .mockImplementation(() => new Promise(() => undefined));
    const { queued, tookMs } = await queuedBehindAFirst(3 * timeoutMs);
    expect(tookMs).toBeLessThan(timeoutMs);
    expect(queued).toMatchObject({ ok: false, retryable: true, reason: 'provider_error' });
    expect(queued.ok || queued.detail).toMatch(/not sent, trying again/);
    // Only the first ever reached node-apn.
    expect(send).toHaveBeenCalledTimes(1);
  });

  it('lets a request waiting behind a lost first request go once that is given up', async () => {
    jest
      .spyOn(Provider.prototype, 'send')
      .mockImplementationOnce(() => new Promise(() => undefined))
      // What node-apn answers on a client shut down: it refuses to write.
      .mockResolvedValue({ sent: [], failed: [{ device: 'x', error: new Error('client is destroyed') }] });
    // The first is given up six request timeouts after it started, while this one waits.
    const { queued, tookMs } = await queuedBehindAFirst(5.8 * timeoutMs);
    expect(tookMs).toBeLessThan(0.45 * timeoutMs);
    expect(queued).toMatchObject({ ok: false, retryable: true, detail: 'connection: client is destroyed' });
  });

  it('gives a request node-apn’s whole worst case from when it has it, so one answered late after a wait is not taken for lost (and pushed again)', async () => {
    const sent: Responses<ResponseSent, ResponseFailure> = { sent: [{ device: 'x' }], failed: [] };
    jest
      .spyOn(Provider.prototype, 'send')
      // The first: answered after most of the wait (a slow token check at Apple).
      .mockImplementationOnce(() => sleep(0.4 * timeoutMs).then(() => sent))
      // The second: node-apn's retries take it to 5.5 request timeouts, then Apple answers.
      .mockImplementationOnce(() => sleep(5.5 * timeoutMs).then(() => sent));
    const shutdown = jest.spyOn(Provider.prototype, 'shutdown');
    const { queued } = await queuedBehindAFirst(0.1 * timeoutMs);
    expect(queued).toEqual({ ok: true, providerMessageId: undefined });
    // Not replaced as lost: shut down once, by close().
    expect(shutdown).toHaveBeenCalledTimes(1);
  });

  it('closes without waiting for ever on a shutdown node-apn never reports', async () => {
    // As after a connection reset: Node leaves the session destroyed but not closed, and node-apn's
    // shutdown() waits for a close that never comes.
    const shutdown = jest
      .spyOn(Provider.prototype, 'shutdown')
      .mockImplementation(() => new Promise<void>(() => undefined));
    jest.spyOn(Provider.prototype, 'send').mockResolvedValue({ sent: [{ device: 'x' }], failed: [] });
    const apns = sender();
    await apns.send(challenge);

    await apns.close();

    expect(shutdown).toHaveBeenCalledTimes(1);
  });
});

/** The outcome of one send that Apple (here node-apn's reported result) answered with status and reason. */
async function answeredWith(status: number, reason: string) {
  jest
    .spyOn(Provider.prototype, 'send')
    .mockResolvedValue({ sent: [], failed: [{ device: 'x', status, response: { reason } }] });
  const apns = sender();
  try {
    return await apns.send(challenge);
  } finally {
    await apns.close();
  }
}

describe('ApnsSender payloads', () => {
  afterEach(() => jest.restoreAllMocks());

  it('counts the payload byte for byte as node-apn sends it, so the size limit is checked on what Apple gets', async () => {
    let sent: Notification | undefined;
    jest.spyOn(Provider.prototype, 'send').mockImplementation((notification) => {
      sent = notification;
      return Promise.resolve({ sent: [{ device: 'x' }], failed: [] });
    });
    const localised = {
      ...challenge,
      title: 'Girişi onaylıyor musunuz?',
      data: { ...challenge.data, values: '07,42,93' },
    };
    const apns = sender();
    await apns.send(localised);
    await apns.close();

    // compile() is what node-apn writes to the stream (missing from its typings).
    const body = (sent as unknown as { compile(): string }).compile();
    expect(JSON.parse(body).aps).toMatchObject({ 'mutable-content': 1, category: 'MFA_PROMPT' });
    expect(Buffer.byteLength(body)).toBe(payloadBytes(localised));
  });

  it.each([
    ['InvalidProviderToken', /replace them with PATCH/],
    ['ExpiredProviderToken', /clock/],
    ['BadEnvironmentKeyIdInToken', /set production to match/],
    ['UnrelatedKeyIdInToken', /key enabled for bundle_id/],
    ['SomeReasonAppleAddsLater', /replace them with PATCH/],
  ])('calls a 403 %s refused credentials, with what fixes it', async (reason, remedy) => {
    expect(await answeredWith(403, reason)).toMatchObject({
      ok: false,
      reason: 'config_invalid',
      retryable: false,
      detail: `403 ${reason}`,
      credentialsRefused: true,
      remedy: expect.stringMatching(remedy),
    });
  });

  it.each(['TopicDisallowed', 'BadTopic', 'MissingTopic'])(
    'points a 400 %s at bundle_id, not at the key',
    async (reason) => {
      expect(await answeredWith(400, reason)).toMatchObject({
        reason: 'config_invalid',
        credentialsRefused: true,
        remedy: expect.stringMatching(/^bundle_id must be/),
      });
    },
  );

  it.each([
    [400, 'IdleTimeout'],
    [408, 'RequestTimeout'],
    [503, 'Shutdown'],
  ])('tries a %s %s again: it is about the connection, not the challenge', async (status, reason) => {
    expect(await answeredWith(status, reason)).toMatchObject({
      ok: false,
      reason: 'provider_error',
      retryable: true,
    });
  });

  it('calls any other 400 an invalid payload, not to be tried again', async () => {
    expect(await answeredWith(400, 'BadExpirationDate')).toMatchObject({
      reason: 'payload_invalid',
      retryable: false,
    });
  });
});
