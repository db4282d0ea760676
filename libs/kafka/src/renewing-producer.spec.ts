import type { Producer, ProducerRecord } from 'kafkajs';
import { producerStateLost, RenewingProducer } from './renewing-producer';

/** Producers whose sends fail with the queued errors, in order of creation. */
function producers(failures: (Error | undefined)[]) {
  const made: { sends: ProducerRecord[]; disconnected: boolean }[] = [];
  const create = () => {
    const state = { sends: [] as ProducerRecord[], disconnected: false };
    const failure = failures[made.length];
    made.push(state);
    return {
      connect: async () => undefined,
      disconnect: async () => void (state.disconnected = true),
      send: async (record: ProducerRecord) => {
        state.sends.push(record);
        if (failure) throw failure;
        return [];
      },
    } as unknown as Producer;
  };
  return { create, made };
}

const outOfOrder = Object.assign(new Error('The broker received an out of order sequence number'), {
  name: 'KafkaJSNonRetriableError',
});
const record = { topic: 't', messages: [{ value: 'v' }] };

describe('RenewingProducer', () => {
  it('starts a new producer (a new producer id) when the broker lost the old one’s state, and sends again', async () => {
    const { create, made } = producers([outOfOrder]);
    await new RenewingProducer(create).send(record);
    expect(made).toHaveLength(2);
    expect(made[0].disconnected).toBe(true);
    expect(made[1].sends).toEqual([record]);
  });

  it('leaves any other failure to the caller, with the same producer', async () => {
    const { create, made } = producers([new Error('This server is not the leader for that topic-partition')]);
    await expect(new RenewingProducer(create).send(record)).rejects.toThrow('not the leader');
    expect(made).toHaveLength(1);
  });

  it('recognises lost producer state by kafkajs error type or message, also as a cause', () => {
    expect(producerStateLost({ type: 'UNKNOWN_PRODUCER_ID' })).toBe(true);
    expect(producerStateLost(Object.assign(new Error('retries exceeded'), { cause: outOfOrder }))).toBe(true);
    expect(producerStateLost(new Error('Connection error: connect ECONNREFUSED'))).toBe(false);
  });
});
