import { EventEmitter } from 'node:events';
import { Logger } from '@nestjs/common';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { ResilientConsumer, type ResilientConsumerOptions } from './resilient-consumer';

const GROUP_JOIN = 'consumer.group_join';
const REBALANCING = 'consumer.rebalancing';
const HEARTBEAT = 'consumer.heartbeat';
const START_BATCH_PROCESS = 'consumer.start_batch_process';
const EVENTS = { GROUP_JOIN, REBALANCING, CRASH: 'consumer.crash', HEARTBEAT, START_BATCH_PROCESS };

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
    events: EVENTS,
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

/**
 * Consumers whose batches and group events the test hands over itself, recording what is committed: a
 * new one for each `kafka.consumer()`, as kafkajs makes them. Events go to the latest unless said.
 */
function consumerDrivenByTheTest() {
  const emitters: EventEmitter[] = [];
  const latest = () => emitters[emitters.length - 1];
  const commits: string[] = [];
  const seeks: string[] = [];
  /** Where each partition of topic t ends, as the admin reads it. */
  const ends = [{ partition: 0, high: '7', low: '0', offset: '7' }];
  let disconnects = 0;
  let eachBatch!: (payload: EachBatchPayload) => Promise<void>;
  const newConsumer = () => {
    const events = new EventEmitter();
    emitters.push(events);
    return {
      events: EVENTS,
      on: (event: string, listener: (e: unknown) => void) => events.on(event, listener),
      connect: async () => undefined,
      subscribe: async () => undefined,
      run: async (config: { eachBatch: typeof eachBatch }) => {
        eachBatch = config.eachBatch;
      },
      pause: () => undefined,
      resume: () => undefined,
      seek: (entry: { partition: number; offset: string }) =>
        seeks.push(`${entry.partition}@${entry.offset}`),
      commitOffsets: async (offsets: { offset: string }[]) => {
        commits.push(...offsets.map(({ offset }) => offset));
      },
      disconnect: async () => {
        disconnects++;
      },
    };
  };
  const deletedGroups: string[][] = [];
  let groupDeletion: () => Promise<unknown> = async () => undefined;
  let adminConnections = 0;
  const admin = {
    connect: async () => void adminConnections++,
    fetchTopicOffsets: async () => ends,
    deleteGroups: async (groupIds: string[]) => {
      await groupDeletion();
      deletedGroups.push(groupIds);
    },
    disconnect: async () => void adminConnections--,
  };
  const kafka = {
    consumer: () => newConsumer() as unknown as Consumer,
    admin: () => admin,
  } as unknown as Kafka;
  const join = (
    memberId: string,
    events = latest(),
    memberAssignment: Record<string, number[]> = { t: [0] },
  ) => events.emit(GROUP_JOIN, { payload: { memberId, memberAssignment } });
  /**
   * Hands the consumer a batch of partition 0 holding `offsets` (whose heartbeat meets a rebalance
   * with `rebalancing`); `resolved` holds the offsets it resolved, `done` its end.
   */
  const batch = (offsets: number[], { rebalancing = false } = {}) => {
    const resolved: string[] = [];
    const done = eachBatch({
      batch: {
        topic: 't',
        partition: 0,
        messages: offsets.map((offset) => ({ offset: String(offset) }) as KafkaMessage),
      },
      resolveOffset: (offset: string) => resolved.push(offset),
      heartbeat: () =>
        rebalancing
          ? Promise.reject(Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' }))
          : Promise.resolve(),
      pause: () => () => undefined,
      isRunning: () => true,
      isStale: () => false,
    } as unknown as EachBatchPayload).catch((error: Error) => error);
    return { resolved, done };
  };
  const heartbeat = (memberId: string, groupGenerationId: number, events = latest()) =>
    events.emit(HEARTBEAT, { payload: { memberId, groupGenerationId } });
  return {
    kafka,
    /** The latest consumer's events. */
    get events() {
      return latest();
    },
    consumers: () => [...emitters],
    commits,
    join,
    heartbeat,
    batch,
    disconnects: () => disconnects,
    seeks,
    ends,
    deletedGroups,
    /** Admin clients connected and not disconnected. */
    adminConnections: () => adminConnections,
    /** What a group deletion does before it counts (a broker refusing it: throw). */
    failGroupDeletion: (how: () => Promise<unknown>) => (groupDeletion = how),
  };
}

/** A consumer of topic `t` with two messages of a partition running at once, on the driven kafkajs consumer. */
function windowedConsumer(
  driven: ReturnType<typeof consumerDrivenByTheTest>,
  options: Pick<
    ResilientConsumerOptions,
    'eachMessage' | 'commitIntervalMs' | 'rejoinLimitMs' | 'startAtEnds' | 'deleteGroupOnStop'
  >,
): ResilientConsumer {
  return new ResilientConsumer(driven.kafka, {
    name: 'spec',
    topic: 't',
    consumer: { groupId: 'g' },
    fromBeginning: true,
    concurrencyPerPartition: 2,
    ...options,
  });
}

/** A windowed consumer, started and joined as member m-1 of its group. */
async function joinedConsumer(options: Parameters<typeof windowedConsumer>[1]) {
  const driven = consumerDrivenByTheTest();
  const resilient = windowedConsumer(driven, options);
  await resilient.start();
  driven.join('m-1');
  return { driven, resilient };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

  it('with startAtEnds, seeks at the first join to where the topic ended when it started, and only then', async () => {
    const driven = consumerDrivenByTheTest();
    const resilient = windowedConsumer(driven, { eachMessage: async () => undefined, startAtEnds: true });
    await resilient.start();
    // Published after start() measured: read from 7, whenever the first fetch comes.
    driven.ends[0] = { partition: 0, high: '9', low: '0', offset: '9' };
    driven.join('m-1');
    expect(driven.seeks).toEqual(['0@7']);
    // A join again goes on from the commits (kafkajs committed the seek).
    driven.events.emit(REBALANCING, {});
    driven.join('m-1');
    expect(driven.seeks).toEqual(['0@7']);
    await resilient.stop();
    // Without it, nothing is sought: kafkajs starts at the end as of its first fetch.
    const plain = windowedConsumer(driven, { eachMessage: async () => undefined });
    await plain.start();
    driven.join('m-2');
    expect(driven.seeks).toEqual(['0@7']);
    await plain.stop();
  });

  it('deletes a group of its own once it has left it at stop; one already gone is fine, a refusal only logged', async () => {
    const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const own = (driven: ReturnType<typeof consumerDrivenByTheTest>) =>
      windowedConsumer(driven, { eachMessage: async () => undefined, deleteGroupOnStop: true });
    const groupError = (type: string, message: string) =>
      Object.assign(new Error('Error in DeleteGroups'), {
        groups: [{ groupId: 'g', error: Object.assign(new Error(message), { type }) }],
      });
    try {
      const driven = consumerDrivenByTheTest();
      driven.failGroupDeletion(async () => {
        // The broker refuses to delete a group that still has a member: this one must have left.
        if (driven.disconnects() === 0) throw new Error('deleted before leaving');
      });
      const joined = own(driven);
      await joined.start();
      driven.join('m-1');
      await joined.stop();
      expect(driven.deletedGroups).toEqual([['g']]);

      // Not its own, or never joined (Kafka away all along): nothing to delete.
      const shared = windowedConsumer(driven, { eachMessage: async () => undefined });
      await shared.start();
      driven.join('m-2');
      await shared.stop();
      const neverJoined = own(driven);
      await neverJoined.start();
      await neverJoined.stop();
      expect(driven.deletedGroups).toEqual([['g']]);

      const again = own(driven);
      await again.start();
      driven.join('m-3');
      driven.failGroupDeletion(() =>
        Promise.reject(groupError('GROUP_ID_NOT_FOUND', 'The group id does not exist')),
      );
      await again.stop();
      expect(warnings).not.toHaveBeenCalled();

      const refused = own(driven);
      await refused.start();
      driven.join('m-4');
      driven.failGroupDeletion(() => Promise.reject(groupError('NON_EMPTY_GROUP', 'The group is not empty')));
      await expect(refused.stop()).resolves.toBeUndefined();
      expect(warnings).toHaveBeenCalledWith(
        expect.stringContaining('g not deleted (Error in DeleteGroups: The group is not empty)'),
      );
      expect(driven.adminConnections()).toBe(0);
    } finally {
      warnings.mockRestore();
    }
  });

  // After a crash kafkajs has left the group: what finishes then cannot be committed, and is read again.
  it.each([
    ['a rebalance kafkajs noticed', 'm-1', '2'],
    ['a rebalance its own heartbeat met', 'm-1', '2'],
    ['a crash kafkajs restarts from', 'm-2', undefined],
  ])(
    'after %s, takes no batch until the next join, and commits nothing past what waited for a slot',
    async (leaving, memberAfter, committedBeforeJoin) => {
      const driven = consumerDrivenByTheTest();
      const started: string[] = [];
      const finishers: (() => void)[] = [];
      const finishAll = async () => {
        while (finishers.length > 0) {
          for (const finish of finishers.splice(0)) finish();
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      const resilient = windowedConsumer(driven, {
        commitIntervalMs: 5,
        eachMessage: ({ message }) => {
          started.push(message.offset);
          return new Promise<void>((resolve) => finishers.push(resolve));
        },
      });
      await resilient.start();
      driven.join('m-1');
      // 0 and 1 run, 2 and 3 wait for a slot.
      const first = driven.batch([0, 1, 2, 3], { rebalancing: leaving.includes('heartbeat') });
      if (leaving.includes('kafkajs noticed')) driven.events.emit(REBALANCING, {});
      if (leaving.includes('crash'))
        driven.events.emit('consumer.crash', { payload: { restart: true, error: new Error('lost') } });
      expect(first.resolved).toEqual(['0', '1', '2', '3']);
      await new Promise((resolve) => setImmediate(resolve));
      // A batch another fetcher brings once this member knows, before the rejoin: taking it would let
      // commits pass 2 and 3.
      const later = driven.batch([4, 5]);
      await finishAll();
      await Promise.all([first.done, later.done]);
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(later.resolved).toEqual([]);
      expect(started).toEqual(['0', '1']);
      expect(driven.commits.at(-1)).toBe(committedBeforeJoin);

      // After the join kafkajs reads again from the commit: what was given back comes again.
      driven.join(memberAfter);
      const again = committedBeforeJoin === undefined ? [0, 1, 2, 3, 4, 5] : [2, 3, 4, 5];
      expect(driven.batch(again).resolved).toEqual(again.map(String));
      await finishAll();
      await resilient.stop();
      expect(started).toEqual(['0', '1', ...again.map(String)]);
      expect(driven.commits.at(-1)).toBe('6');
    },
  );

  it('starts a new consumer when no join comes within the rejoin limit, also with nothing to fetch', async () => {
    const { driven, resilient } = await joinedConsumer({
      eachMessage: async () => undefined,
      rejoinLimitMs: 30,
    });
    // A SyncGroup that failed in a way kafkajs retries by fetching on: no GROUP_JOIN ever comes.
    driven.events.emit(REBALANCING, {});
    expect(driven.disconnects()).toBe(0);
    await sleep(60);
    expect(driven.disconnects()).toBe(1);
    await resilient.stop();
  });

  it('leaves a crashed consumer that kafkajs restarts to kafkajs, past the rejoin limit too (kafkajs#1639)', async () => {
    const { driven, resilient } = await joinedConsumer({
      eachMessage: async () => undefined,
      rejoinLimitMs: 30,
    });
    driven.events.emit('consumer.crash', { payload: { restart: true, error: new Error('broker gone') } });
    await sleep(80);
    expect(driven.disconnects()).toBe(0);
    await resilient.stop();
  });

  it('starts a new consumer on heartbeats in the generation it left, also when none came between its join and leaving', async () => {
    const { driven, resilient } = await joinedConsumer({ eachMessage: async () => undefined });
    driven.events.emit(REBALANCING, {});
    driven.heartbeat('m-1', 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(driven.disconnects()).toBe(0);
    driven.heartbeat('m-1', 1);
    await sleep(10);
    expect(driven.disconnects()).toBe(1);
    await resilient.stop();
  });

  it('does not count heartbeats while a batch finishes its messages before letting kafkajs rejoin', async () => {
    let finishAll!: () => void;
    const finished = new Promise<void>((resolve) => (finishAll = resolve));
    const { driven, resilient } = await joinedConsumer({ eachMessage: () => finished });
    driven.heartbeat('m-1', 1);
    // Its heartbeat meets the rebalance: the batch waits for 0 and 1 before it throws to kafkajs.
    const draining = driven.batch([0, 1], { rebalancing: true });
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 3; i++) driven.heartbeat('m-1', 1);
    await sleep(10);
    expect(driven.disconnects()).toBe(0);
    finishAll();
    await draining.done;
    // Thrown to kafkajs, which rejoins; had it gone on in this generation instead:
    driven.heartbeat('m-1', 1);
    driven.heartbeat('m-1', 1);
    await sleep(10);
    expect(driven.disconnects()).toBe(1);
    await resilient.stop();
  });

  it('does not take heartbeats of a join under way (a new generation) for going on in the old one', async () => {
    const { driven, resilient } = await joinedConsumer({
      eachMessage: async () => undefined,
      rejoinLimitMs: 30,
    });
    driven.heartbeat('m-1', 1);
    driven.events.emit(REBALANCING, {});
    // Accepted while the group waits for the leader's SyncGroup, then joined.
    for (let i = 0; i < 3; i++) driven.heartbeat('m-1', 2);
    driven.join('m-1');
    driven.heartbeat('m-1', 2);
    await sleep(60);
    expect(driven.disconnects()).toBe(0);
    await resilient.stop();
  });

  it('starts a new consumer when kafkajs goes on in its old generation after a failed rejoin, which reads again what was given back', async () => {
    const started: string[] = [];
    let finishAll!: () => void;
    const finished = new Promise<void>((resolve) => (finishAll = resolve));
    const { driven, resilient } = await joinedConsumer({
      eachMessage: ({ message }) => {
        started.push(message.offset);
        return finished;
      },
    });
    driven.heartbeat('m-1', 1);
    // 0 and 1 run, 2 waits for a slot.
    driven.batch([0, 1, 2]);
    // A broker restart: kafkajs's rejoin fails ("the coordinator is loading"), its retry fetches on in
    // the group the broker reloaded as it was, and the group accepts its heartbeats. No join comes, and
    // kafkajs would read on after offset 2.
    driven.events.emit(REBALANCING, {});
    // The first may answer a heartbeat sent before the rebalance.
    driven.heartbeat('m-1', 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(driven.disconnects()).toBe(0);
    driven.heartbeat('m-1', 1);
    driven.heartbeat('m-1', 1);
    await sleep(10);
    expect(driven.disconnects()).toBe(1);
    // Once, and the new consumer reads again from the last commit: offset 2 with it.
    await sleep(1100);
    driven.join('m-2');
    expect(driven.batch([2]).resolved).toEqual(['2']);
    expect(driven.disconnects()).toBe(1);
    expect(started).toEqual(['0', '1', '2']);
    finishAll();
    await resilient.stop();
  });

  describe('reading a partition again after a failure', () => {
    /** Joined as m-1; the handler fails offset 0, so partition 0 is read again from 0 after 500 ms. */
    async function failedPartition() {
      const joined = await joinedConsumer({
        eachMessage: async ({ message }) => {
          if (message.offset === '0') throw new Error('broker unreachable');
        },
      });
      joined.driven.batch([0]);
      return joined;
    }

    it('seeks only once joined again: a seek made during a rebalance could outlive its hold on the partition', async () => {
      const { driven, resilient } = await failedPartition();
      driven.events.emit(REBALANCING, {});
      await sleep(700);
      expect(driven.seeks).toEqual([]);
      driven.join('m-1');
      await sleep(1100);
      expect(driven.seeks).toEqual(['0@0']);
      await resilient.stop();
    });

    it('starts a new consumer (whose seeks are its own) when the partition goes before its seek was applied', async () => {
      const { driven, resilient } = await failedPartition();
      await sleep(700);
      expect(driven.seeks).toEqual(['0@0']);
      driven.events.emit(REBALANCING, {});
      driven.join('m-1', driven.events, { t: [] });
      await sleep(10);
      expect(driven.disconnects()).toBe(1);
      // Until the new consumer runs, the one leaving takes nothing more.
      expect(driven.batch([1, 2]).resolved).toEqual([]);
      await resilient.stop();
    });

    it('keeps its consumer when the partition goes after a batch showed the seek applied', async () => {
      for (const applied of ['a batch', 'a batch of only control records', 'a crash']) {
        const { driven, resilient } = await failedPartition();
        await sleep(700);
        if (applied === 'a batch') driven.batch([0]);
        // kafkajs resolves such a batch itself, without eachBatch.
        else if (applied.includes('control'))
          driven.events.emit(START_BATCH_PROCESS, { payload: { topic: 't', partition: 0 } });
        // kafkajs restarts with a new group, which holds no seek of the old one.
        else driven.events.emit('consumer.crash', { payload: { restart: true, error: new Error('lost') } });
        driven.events.emit(REBALANCING, {});
        driven.join(applied === 'a crash' ? 'm-2' : 'm-1', driven.events, { t: [] });
        await sleep(10);
        expect([applied, driven.disconnects()]).toEqual([applied, 0]);
        await resilient.stop();
      }
    });

    it('still starts a new consumer after an eviction: kafkajs rejoins under a new member id in the same group, seeks and all', async () => {
      const { driven, resilient } = await failedPartition();
      await sleep(700);
      driven.events.emit(REBALANCING, {});
      driven.join('m-2', driven.events, { t: [] });
      await sleep(10);
      expect(driven.disconnects()).toBe(1);
      await resilient.stop();
    });
  });

  it("fails the heartbeat of a handler still running after kafkajs crashed (out of the group, kafkajs's own heartbeat succeeds)", async () => {
    let heartbeat!: () => Promise<void>;
    let finish!: () => void;
    const { driven, resilient } = await joinedConsumer({
      eachMessage: (payload) => {
        heartbeat = payload.heartbeat;
        return new Promise<void>((resolve) => (finish = resolve));
      },
    });
    driven.batch([0]);
    await expect(heartbeat()).resolves.toBeUndefined();
    driven.events.emit('consumer.crash', { payload: { restart: true, error: new Error('lost') } });
    await expect(heartbeat()).rejects.toThrow('handed over');
    finish();
    await resilient.stop();
  });

  it('ignores the events of a consumer it replaced, which may still be leaving', async () => {
    const { driven, resilient } = await joinedConsumer({ eachMessage: async () => undefined });
    driven.heartbeat('m-1', 1);
    driven.events.emit(REBALANCING, {});
    driven.heartbeat('m-1', 1);
    driven.heartbeat('m-1', 1);
    // Replaced after a second's backoff.
    await sleep(1100);
    const [replaced, replacement] = driven.consumers();
    expect(replacement).toBeDefined();
    driven.join('m-2', replacement);
    driven.heartbeat('m-2', 2, replacement);
    replacement.emit(REBALANCING, {});
    // The old consumer's heartbeats and crash are not the new one's.
    for (let i = 0; i < 3; i++) driven.heartbeat('m-1', 1, replaced);
    replaced.emit('consumer.crash', { payload: { restart: false, error: new Error('left') } });
    await sleep(20);
    expect(driven.disconnects()).toBe(1);
    expect(driven.consumers()).toHaveLength(2);
    await resilient.stop();
  });

  it('goes on committing while a stop waits for what is in flight, so one held handler does not hold back what the others finished', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { driven, resilient } = await joinedConsumer({
      commitIntervalMs: 20,
      // Offset 0 finishes once the stop began; offset 1 (a send outliving its timeout) much later.
      eachMessage: ({ message }) => (message.offset === '0' ? sleep(30).then(() => undefined) : held),
    });
    driven.batch([0, 1]);
    const stopping = resilient.stop();
    await sleep(150);
    // The next offset to read after 0: what a replica that takes over (this one killed at its grace) starts from.
    expect(driven.commits).toEqual(['1']);
    release();
    await stopping;
    expect(driven.commits).toEqual(['1', '2']);
  });
});
