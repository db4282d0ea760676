import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import { resolveTopicNames } from '@lib/contracts';
import { InvalidPushRequestError, PushClient, PushResultTimeoutError } from '@lib/push-client';
import { pushRequest } from './fixtures/push-request.builder';
import { testAppConfig, testKafka } from './support/test-environment';
import { TopicReader } from './support/topic-reader';

// The library internal services use, against the real broker (the dispatcher's side is tested elsewhere).
describe('push-client', () => {
  const config = testAppConfig();
  let client: PushClient;
  let requests: TopicReader;
  let results: TopicReader;
  /** Stands in for the dispatcher publishing results. */
  let dispatcher: Producer;
  const resultsTopic = resolveTopicNames(config.kafka).pushResults;
  const publishFor = (tenant: string, ...challengeIds: string[]) => publishWith({ tenant }, ...challengeIds);
  const publishWith = (result: { tenant: string; status?: string }, ...challengeIds: string[]) =>
    dispatcher.send({
      topic: resultsTopic,
      // One partition, so results arrive in the order published.
      messages: challengeIds.map((id) => ({
        partition: 0,
        key: id,
        value: JSON.stringify({ challenge_id: id, status: 'sent', ...result }),
      })),
    });
  const publish = (...challengeIds: string[]) => publishFor('acme', ...challengeIds);

  beforeAll(async () => {
    const topics = resolveTopicNames(config.kafka);
    // The dispatcher creates both topics; here a reader on each stands in for it.
    [requests, results] = await Promise.all([
      new TopicReader(config, topics.pushRequested).start(),
      new TopicReader(config, topics.pushResults).start(),
    ]);
    client = new PushClient(config.kafka);
    await client.connect({ awaitResults: true });
    dispatcher = testKafka('push-client-spec').producer();
    await dispatcher.connect();
  });
  afterAll(async () => {
    await client.close();
    await dispatcher.disconnect();
    await Promise.all([requests.stop(), results.stop()]);
  });

  it('produces a valid request keyed by its challenge id', async () => {
    const request = pushRequest({ tenant: 'acme', code: '42' });
    await client.requestChallenge(request);
    const message = await requests.waitFor((m) => m.key === request.challenge_id);
    expect(message.value).toEqual(request);
  });

  it('refuses an invalid request before it reaches Kafka, naming the field', async () => {
    const request = {
      ...pushRequest(),
      challenge_id: `bad-${randomUUID()}`,
      device: { provider: 'sms', token: 'x' },
    };
    await expect(client.requestChallenge(request as never)).rejects.toThrow(InvalidPushRequestError);
    await expect(client.requestChallenge(request as never)).rejects.toThrow(/device\.provider/);
    // A leap second passes the schema's date-time format, but is no time a program can compare with.
    const leapSecond = { ...pushRequest(), expires_at: '2026-12-31T23:59:60Z' };
    await expect(client.requestChallenge(leapSecond)).rejects.toThrow(/expires_at/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(requests.messages.find((m) => m.key === request.challenge_id)).toBeUndefined();
  });

  it('awaits a result, and times out clearly when none comes', async () => {
    await expect(client.awaitResult('no-such-challenge', 300)).rejects.toThrow(PushResultTimeoutError);
  });

  it('gives a result to every caller awaiting it, and to one awaiting after it came', async () => {
    const id = `both-${randomUUID()}`;
    // A first wait that times out must not take the result from a second one.
    const short = client.awaitResult(id, 200);
    const long = client.awaitResult(id, 10_000);
    await expect(short).rejects.toThrow(PushResultTimeoutError);
    const again = client.awaitResult(id, 10_000);
    await publish(id);
    expect((await long).challenge_id).toBe(id);
    expect((await again).challenge_id).toBe(id);
    expect((await client.awaitResult(id, 1000)).challenge_id).toBe(id);
  });

  it('keeps the result of a challenge it requested until it expires, however many others pass meanwhile', async () => {
    const [unawaited, sentAgain, marker] = [1, 2, 3].map(() => pushRequest({ tenant: 'acme' }));
    for (const request of [unawaited, sentAgain]) await client.requestChallenge(request);
    await publish(unawaited.challenge_id, sentAgain.challenge_id, marker.challenge_id);
    await client.awaitResult(marker.challenge_id, 10_000);
    // Sending a request again must not drop the result it already has.
    await client.requestChallenge(sentAgain);
    // A busy system: more results of other challenges than the client keeps of those.
    const others = Array.from({ length: 10_500 }, (_, i) => `other-${i}-${randomUUID()}`);
    for (let i = 0; i < others.length; i += 2000) await publish(...others.slice(i, i + 2000));
    await client.awaitResult(others[others.length - 1], 30_000);
    for (const request of [unawaited, sentAgain])
      expect((await client.awaitResult(request.challenge_id, 1000)).challenge_id).toBe(request.challenge_id);
  });

  it("takes no other tenant's result for a challenge it requested, whether it came before the request or after", async () => {
    // Read before this client asked (one partition: the marker's result comes after it).
    const early = pushRequest({ tenant: 'acme' });
    const marker = `marker-${randomUUID()}`;
    await publishFor('someone-else', early.challenge_id);
    await publish(marker);
    await client.awaitResult(marker, 10_000);
    await client.requestChallenge(early);
    const awaitingEarly = client.awaitResult(early.challenge_id, 10_000);
    await publish(early.challenge_id);
    expect(await awaitingEarly).toMatchObject({ tenant: 'acme' });

    // Arriving while this client waits, ahead of its own.
    const late = pushRequest({ tenant: 'acme' });
    await client.requestChallenge(late);
    const awaitingLate = client.awaitResult(late.challenge_id, 10_000);
    await publishFor('someone-else', late.challenge_id);
    await publish(late.challenge_id);
    expect(await awaitingLate).toMatchObject({ tenant: 'acme' });
  });

  it('keeps the first result of a challenge: a second one (a copy, a push sent again elsewhere) changes no answer', async () => {
    const request = pushRequest({ tenant: 'acme' });
    await client.requestChallenge(request);
    const awaiting = client.awaitResult(request.challenge_id, 10_000);
    await publishWith({ tenant: 'acme', status: 'sent' }, request.challenge_id);
    await publishWith({ tenant: 'acme', status: 'expired' }, request.challenge_id);
    const marker = `marker-${randomUUID()}`;
    await publish(marker);
    await client.awaitResult(marker, 10_000);
    expect(await awaiting).toMatchObject({ status: 'sent' });
    expect(await client.awaitResult(request.challenge_id, 1000)).toMatchObject({ status: 'sent' });
  });

  it('misses no result published as soon as connect() resolved', async () => {
    const fresh = new PushClient(config.kafka);
    try {
      await fresh.connect({ awaitResults: true });
      const id = `right-after-${randomUUID()}`;
      await publish(id);
      expect((await fresh.awaitResult(id, 10_000)).challenge_id).toBe(id);
    } finally {
      await fresh.close();
    }
  });

  it('reads on past a record that is not a result', async () => {
    const id = `after-null-${randomUUID()}`;
    await dispatcher.send({ topic: resultsTopic, messages: [{ partition: 0, key: id, value: 'null' }] });
    await publish(id);
    expect((await client.awaitResult(id, 10_000)).challenge_id).toBe(id);
  });

  it('waits as long as asked, even longer than a timer can (not at once)', async () => {
    const id = `forever-${randomUUID()}`;
    const forever = client.awaitResult(id, Number.POSITIVE_INFINITY);
    const first = await Promise.race([
      forever,
      new Promise((resolve) => setTimeout(() => resolve('waiting'), 300)),
    ]);
    expect(first).toBe('waiting');
    await publish(id);
    expect((await forever).challenge_id).toBe(id);
  });

  it('on close, fails the awaits still pending at once, and refuses to connect again', async () => {
    const closing = new PushClient(config.kafka);
    await closing.connect({ awaitResults: true });
    await expect(closing.connect({ awaitResults: true })).rejects.toThrow(/once per client/);
    const pending = expect(closing.awaitResult(`never-${randomUUID()}`, 60_000)).rejects.toThrow(/closed/);
    const closedAt = Date.now();
    await closing.close();
    await pending;
    expect(Date.now() - closedAt).toBeLessThan(30_000);
    await expect(closing.connect()).rejects.toThrow(/closed/);
  });

  it('says so at connect() when the request topic does not exist, rather than creating it', async () => {
    const prefix = `missing-${randomUUID()}.`;
    const elsewhere = new PushClient({ ...config.kafka, topicPrefix: prefix });
    try {
      await expect(elsewhere.connect()).rejects.toThrow(/requested does not exist/);
      const admin = testKafka('push-client-missing').admin();
      await admin.connect();
      const created = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
      await admin.disconnect();
      expect(created).toEqual([]);
    } finally {
      await elsewhere.close();
    }
  }, 60_000);

  it('rejects, not throws, when awaiting without a result listener', async () => {
    const unconnected = new PushClient(config.kafka);
    await expect(unconnected.awaitResult('x')).rejects.toThrow(/connect\(\{ awaitResults: true \}\)/);
  });
});
