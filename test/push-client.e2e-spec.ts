import { randomUUID } from 'node:crypto';
import { resolveTopicNames } from '@lib/contracts';
import { InvalidPushRequestError, PushClient, PushResultTimeoutError } from '@lib/push-client';
import { pushRequest } from './fixtures/push-request.builder';
import { testAppConfig } from './support/test-environment';
import { TopicReader } from './support/topic-reader';

// The library internal services use, against the real broker (the dispatcher's side is tested elsewhere).
describe('push-client', () => {
  const config = testAppConfig();
  let client: PushClient;
  let requests: TopicReader;
  let results: TopicReader;

  beforeAll(async () => {
    const topics = resolveTopicNames(config.kafka);
    // The dispatcher creates both topics; here a reader on each stands in for it.
    [requests, results] = await Promise.all([
      new TopicReader(config, topics.pushRequested).start(),
      new TopicReader(config, topics.pushResults).start(),
    ]);
    client = new PushClient(config.kafka);
    await client.connect({ awaitResults: true });
  });
  afterAll(async () => {
    await client.close();
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
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(requests.messages.find((m) => m.key === request.challenge_id)).toBeUndefined();
  });

  it('awaits a result, and times out clearly when none comes', async () => {
    await expect(client.awaitResult('no-such-challenge', 300)).rejects.toThrow(PushResultTimeoutError);
  });
});
