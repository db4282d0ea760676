import { resolveTopicNames } from '@lib/contracts';
import { ChallengeLedger } from '../apps/dispatcher/src/challenges/challenge-ledger';
import {
  PublishedResultsFollower,
  REQUEST_POSITION_HEADER,
} from '../apps/dispatcher/src/results/published-results.follower';
import { testAppConfig, testKafka } from './support/test-environment';

describe('the published results follower (real Kafka)', () => {
  const config = testAppConfig();
  const topics = resolveTopicNames(config.kafka);
  const kafka = testKafka('published-results-test', config);
  const producer = kafka.producer();
  const ledger = new ChallengeLedger(1000);
  const follower = new PublishedResultsFollower(config, ledger);

  beforeAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [topics.pushResults, topics.pushRetrying].map((topic) => ({ topic, numPartitions: 3 })),
    });
    await admin.disconnect();
    await producer.connect();
    await follower.onApplicationBootstrap();
    await follower.caughtUp;
  });

  afterAll(async () => {
    await follower.beforeApplicationShutdown();
    await producer.disconnect();
  });

  it('reads the results topic up to now on demand, so a result written by a failed send is not published again', async () => {
    const written = Array.from({ length: 30 }, (_, i) => `landed-${i}`);
    await producer.send({
      topic: topics.pushResults,
      messages: written.map((challengeId, i) => ({
        key: challengeId,
        value: '{}',
        headers: { [REQUEST_POSITION_HEADER]: `mfa.push.requested/0@${i}` },
      })),
    });
    expect(await follower.resultsReadToNow()).toBe(true);
    for (const [i, challengeId] of written.entries())
      expect(ledger.get(challengeId)).toEqual({
        state: 'done',
        position: `mfa.push.requested/0@${i}`,
        resultSeen: true,
      });
    // Nothing new: it answers from what it has read.
    expect(await follower.resultsReadToNow()).toBe(true);
  });
});
