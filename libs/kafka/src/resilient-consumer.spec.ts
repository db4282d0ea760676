import { EventEmitter } from 'node:events';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { ResilientConsumer } from './resilient-consumer';

const GROUP_JOIN = 'consumer.group_join';

/**
 * A consumer that behaves as kafkajs does when its first join fails with a retriable error (a broker
 * just started: "the coordinator is loading"): `run()` returns with no group, `seek` throws until
 * kafkajs's own restart has joined, and that join is announced by GROUP_JOIN.
 */
function consumerWhoseFirstJoinFails() {
  const events = new EventEmitter();
  const seeks: { topic: string; partition: number; offset: string }[] = [];
  let group = false;
  const consumer = {
    events: { GROUP_JOIN, REBALANCING: 'consumer.rebalancing', CRASH: 'consumer.crash' },
    on: (event: string, listener: (e: unknown) => void) => events.on(event, listener),
    connect: async () => undefined,
    subscribe: async () => undefined,
    run: async () => {
      setTimeout(() => {
        group = true;
        events.emit(GROUP_JOIN, { payload: { memberId: 'm-1', memberAssignment: { results: [0] } } });
      }, 10);
    },
    seek: (entry: { topic: string; partition: number; offset: string }) => {
      if (!group) throw new Error('Consumer group was not initialized, consumer#run must be called first');
      seeks.push(entry);
    },
    disconnect: async () => undefined,
  };
  const kafka = { consumer: () => consumer as unknown as Consumer } as unknown as Kafka;
  return { kafka, seeks };
}

/** A consumer whose batches and group events the test hands over itself, recording what is committed. */
function consumerDrivenByTheTest() {
  const events = new EventEmitter();
  const commits: string[] = [];
  let eachBatch!: (payload: EachBatchPayload) => Promise<void>;
  const consumer = {
    events: { GROUP_JOIN, REBALANCING: 'consumer.rebalancing', CRASH: 'consumer.crash' },
    on: (event: string, listener: (e: unknown) => void) => events.on(event, listener),
    connect: async () => undefined,
    subscribe: async () => undefined,
    run: async (config: { eachBatch: typeof eachBatch }) => {
      eachBatch = config.eachBatch;
    },
    pause: () => undefined,
    resume: () => undefined,
    commitOffsets: async (offsets: { offset: string }[]) => {
      commits.push(...offsets.map(({ offset }) => offset));
    },
    disconnect: async () => undefined,
  };
  const kafka = { consumer: () => consumer as unknown as Consumer } as unknown as Kafka;
  const join = () => events.emit(GROUP_JOIN, { payload: { memberId: 'm-1', memberAssignment: { t: [0] } } });
  /** Hands the consumer a batch of partition 0 holding `offsets`; returns the offsets it resolved. */
  const batch = async (offsets: number[]) => {
    const resolved: string[] = [];
    await eachBatch({
      batch: {
        topic: 't',
        partition: 0,
        messages: offsets.map((offset) => ({ offset: String(offset) }) as KafkaMessage),
      },
      resolveOffset: (offset: string) => resolved.push(offset),
      heartbeat: async () => undefined,
      pause: () => () => undefined,
      isRunning: () => true,
      isStale: () => false,
    } as unknown as EachBatchPayload);
    return resolved;
  };
  return { kafka, events, commits, join, batch };
}

describe('ResilientConsumer', () => {
  it('hands onJoin a consumer it can seek with, also when kafkajs had to join again after run()', async () => {
    const { kafka, seeks } = consumerWhoseFirstJoinFails();
    const resilient = new ResilientConsumer(kafka, {
      name: 'spec',
      topic: 'results',
      consumer: { groupId: 'g' },
      fromBeginning: false,
      eachMessage: async () => undefined,
      onJoin: (consumer) => consumer.seek({ topic: 'results', partition: 0, offset: '42' }),
    });
    await resilient.start();
    await resilient.ready;
    expect(seeks).toEqual([{ topic: 'results', partition: 0, offset: '42' }]);
    await resilient.stop();
  });

  it.each([
    ['a rebalance kafkajs noticed', 'consumer.rebalancing', {}],
    [
      'a crash kafkajs restarts from',
      'consumer.crash',
      { payload: { restart: true, error: new Error('x') } },
    ],
  ])(
    'after %s, takes no batch until the next join, and never commits past what waited for a slot',
    async (_, event, payload) => {
      const driven = consumerDrivenByTheTest();
      const started: string[] = [];
      const finishers: (() => void)[] = [];
      const resilient = new ResilientConsumer(driven.kafka, {
        name: 'spec',
        topic: 't',
        consumer: { groupId: 'g' },
        fromBeginning: true,
        concurrencyPerPartition: 2,
        eachMessage: ({ message }) => {
          started.push(message.offset);
          return new Promise<void>((resolve) => finishers.push(resolve));
        },
      });
      await resilient.start();
      driven.join();
      // 0 and 1 run, 2 and 3 wait for a slot.
      expect(await driven.batch([0, 1, 2, 3])).toEqual(['0', '1', '2', '3']);
      driven.events.emit(event, payload);
      // A batch still fetched before the rejoin: taking it would start 4 and 5 and commit past 2 and 3.
      expect(await driven.batch([4, 5])).toEqual([]);
      for (const finish of finishers.splice(0)) finish();
      await new Promise((resolve) => setImmediate(resolve));
      expect(started).toEqual(['0', '1']);

      // After the join kafkajs reads again from the last commit: what was given back comes again.
      driven.join();
      expect(await driven.batch([2, 3, 4, 5])).toEqual(['2', '3', '4', '5']);
      while (started.length < 6 || finishers.length > 0) {
        for (const finish of finishers.splice(0)) finish();
        await new Promise((resolve) => setImmediate(resolve));
      }
      await resilient.stop();
      expect(started).toEqual(['0', '1', '2', '3', '4', '5']);
      expect(driven.commits.map(Number).every((offset, i, all) => i === 0 || offset >= all[i - 1])).toBe(
        true,
      );
      expect(driven.commits.at(-1)).toBe('6');
      expect(driven.commits).not.toContain('4');
    },
  );
});
