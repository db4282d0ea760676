import { EventEmitter } from 'node:events';
import type { Consumer, Kafka } from 'kafkajs';
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
});
