import { ResilientConsumer, ResilientConsumerOptions } from '@lib/kafka';
import { createTopic } from './support/topic-reader';
import { testAppConfig, testKafka } from './support/test-environment';

// Partitions moving between two live consumers of one group. Serial: these measure who handled what
// when, and under the load of the parallel suite a rebalance can take longer than the test allows.
describe('ResilientConsumer hand-over between live replicas (real Kafka)', () => {
  const config = testAppConfig();
  const kafka = testKafka('test-handover', config);
  const groupId = `${config.kafka.topicPrefix}group`;

  interface Handling {
    by: string;
    at: string;
    started: number;
    finished?: number;
  }

  /**
   * A first replica handles `count` messages of two partitions, each taking `handleMs`; a second one
   * (hand-over grace `secondGraceMs`) joins the group once the first has started some. What each
   * handled, and when.
   */
  /** A topic of two partitions holding `count` messages, spread over both. */
  async function movingTopicWith(name: string, count: number): Promise<string> {
    const movingTopic = await createTopic(kafka, `${config.kafka.topicPrefix}${name}`, 2);
    // Idempotent: a produce retried under load (the suite runs broker restarts) must not add a message.
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic: movingTopic,
      messages: Array.from({ length: count }, (_, i) => ({ partition: i % 2, value: String(i) })),
    });
    await producer.disconnect();
    return movingTopic;
  }

  /** One replica of the test's group on `movingTopic`. */
  function replicaOf(
    name: string,
    movingTopic: string,
    options: Pick<ResilientConsumerOptions, 'concurrencyPerPartition' | 'handoverGraceMs' | 'onJoin'>,
    eachMessage: ResilientConsumerOptions['eachMessage'],
  ): ResilientConsumer {
    return new ResilientConsumer(kafka, {
      name,
      topic: movingTopic,
      consumer: { groupId: `${groupId}-${movingTopic}`, maxWaitTimeInMs: 50 },
      fromBeginning: true,
      partitionsConsumedConcurrently: 2,
      commitIntervalMs: 200,
      ...options,
      eachMessage,
    });
  }

  async function secondReplicaJoins(
    name: string,
    { count, handleMs, concurrency, secondGraceMs }: Record<string, number>,
  ): Promise<Handling[]> {
    const movingTopic = await movingTopicWith(name, count);
    const handlings: Handling[] = [];
    const replica = (by: string, graceMs = 0) =>
      replicaOf(
        `${name}-${by}`,
        movingTopic,
        { concurrencyPerPartition: concurrency, handoverGraceMs: graceMs },
        async ({ partition, message }) => {
          const handling: Handling = { by, at: `${partition}@${message.offset}`, started: Date.now() };
          handlings.push(handling);
          await new Promise((resolve) => setTimeout(resolve, handleMs));
          handling.finished = Date.now();
        },
      );
    const first = replica('first');
    await first.start();
    for (let i = 0; i < 200 && handlings.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const second = replica('second', secondGraceMs);
    await second.start();
    const settled = async () => {
      for (let i = 0; i < 400; i++) {
        const finished = handlings.filter((h) => h.finished !== undefined);
        if (finished.length === handlings.length && new Set(finished.map((h) => h.at)).size === count) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    await settled();
    // Anything read again after a hand-over grace has started by now, and then finishes.
    await new Promise((resolve) => setTimeout(resolve, secondGraceMs + 1000));
    await settled();
    await Promise.all([first.stop(), second.stop()]);
    expect(new Set(handlings.map((h) => h.at)).size).toBe(count);
    return handlings;
  }

  /** Messages the second replica started while the first still had them in hand. */
  const startedTwiceAtOnce = (handlings: Handling[]) =>
    handlings
      .filter((later) => later.by === 'second')
      .filter((later) =>
        handlings.some(
          (earlier) =>
            earlier.by === 'first' &&
            earlier.at === later.at &&
            (earlier.finished === undefined || earlier.finished > later.started),
        ),
      )
      .map((h) => h.at);

  /** The second replica handled some messages, and none while the first still had it in hand. */
  function expectHandedOverCleanly(handlings: Handling[]): void {
    expect(handlings.filter((h) => h.by === 'second').length).toBeGreaterThan(0);
    expect(startedTwiceAtOnce(handlings)).toEqual([]);
  }

  it('hands a partition with a backlog in hand over, and the new owner starts nothing the old one still runs', async () => {
    // 60 slow messages per partition, 4 at a time: the first replica holds each partition's backlog
    // (9 s of it) when the second joins. What waits is left to the new owner; what runs (600 ms) ends
    // within the hand-over grace (the default 2 s), however the first replica noticed the rebalance.
    const handlings = await secondReplicaJoins('long-batch', {
      count: 120,
      handleMs: 600,
      concurrency: 4,
      secondGraceMs: 2000,
    });
    expectHandedOverCleanly(handlings);
  }, 60_000);

  it('reads a partition that moved to it only after the hand-over grace, when its owner noticed the rebalance between batches', async () => {
    // Everything fetched at once and in flight; then only empty fetches, where kafkajs itself notices
    // the rebalance and rejoins with the messages still in hand.
    const handlings = await secondReplicaJoins('between-batches', {
      count: 16,
      handleMs: 6000,
      concurrency: 64,
      secondGraceMs: 7000,
    });
    expectHandedOverCleanly(handlings);
  }, 60_000);

  it("fails the heartbeat of a handler whose partition went to another member, and only that one's", async () => {
    // A handler retrying a push heartbeats between attempts. After the rejoin kafkajs's heartbeat
    // succeeds again, so without this a retry would go on while the new owner sends the same push.
    const movingTopic = await movingTopicWith('retrying', 2);
    let firstJoins = 0;
    let started = 0;
    let rebalanced!: () => void;
    const afterRebalance = new Promise<void>((resolve) => (rebalanced = resolve));
    const heartbeats: string[] = [];
    const first = replicaOf(
      'retrying-first',
      movingTopic,
      { concurrencyPerPartition: 4, onJoin: () => (firstJoins += 1) },
      async ({ partition, heartbeat }) => {
        started += 1;
        await afterRebalance;
        await heartbeat().then(
          () => heartbeats.push(`${partition}: held`),
          (error: Error) => heartbeats.push(`${partition}: ${error.message}`),
        );
      },
    );
    // Its grace outlasts the test: the moved message stays the first replica's alone.
    const second = replicaOf(
      'retrying-second',
      movingTopic,
      { concurrencyPerPartition: 4, handoverGraceMs: 60_000 },
      () => Promise.resolve(),
    );
    await first.start();
    for (let i = 0; i < 200 && started < 2; i++) await new Promise((r) => setTimeout(r, 50));
    await second.start();
    await second.ready;
    for (let i = 0; i < 300 && firstJoins < 2; i++) await new Promise((r) => setTimeout(r, 100));
    rebalanced();
    for (let i = 0; i < 50 && heartbeats.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    await Promise.all([first.stop(), second.stop()]);

    expect(started).toBe(2);
    expect(firstJoins).toBeGreaterThanOrEqual(2);
    expect(heartbeats).toHaveLength(2);
    expect(heartbeats).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\d: held$/),
        expect.stringMatching(/^\d: .*\[\d\]@0 was handed over to another member of the group$/),
      ]),
    );
  }, 60_000);
});
