import type { Producer, ProducerRecord } from 'kafkajs';
import { RenewingProducer } from './renewing-producer';

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
  it('starts a new producer (a new producer id) after a failed send, and leaves sending again to the caller', async () => {
    const { create, made } = producers([outOfOrder]);
    const producer = new RenewingProducer(create);
    await expect(producer.send(record)).rejects.toThrow('out of order');
    expect(made).toHaveLength(2);
    expect(made[0].disconnected).toBe(true);
    // The caller's next send goes out with the new producer, from new sequence numbers.
    await producer.send(record);
    expect(made.map((producerMade) => producerMade.sends)).toEqual([[record], [record]]);
  });

  it('renews after any failure, not only lost producer state: kafkajs rolled back what may have been written', async () => {
    const { create, made } = producers([new Error('Connection error: read ECONNRESET')]);
    await expect(new RenewingProducer(create).send(record)).rejects.toThrow('ECONNRESET');
    expect(made).toHaveLength(2);
    expect(made[0].disconnected).toBe(true);
  });

  it('sends one at a time: a send queued behind a failing one goes out on the new producer', async () => {
    const { create, made } = producers([outOfOrder]);
    const producer = new RenewingProducer(create);
    const sends = await Promise.allSettled([producer.send(record), producer.send(record)]);
    expect(sends.map((send) => send.status)).toEqual(['rejected', 'fulfilled']);
    expect(made.map((producerMade) => producerMade.sends.length)).toEqual([1, 1]);
  });

  it('fails the sends still queued once disconnected, instead of connecting again', async () => {
    const { create, made } = producers([]);
    const producer = new RenewingProducer(create);
    await producer.send(record);
    const queued = [producer.send(record), producer.send(record)];
    await producer.disconnect();
    for (const send of queued) await expect(send).rejects.toThrow('disconnected; nothing was sent');
    expect(made).toHaveLength(1);
    expect(made[0].sends).toEqual([record]);
  });

  it('on disconnect, waits a while for a connect under way, and disconnects it too if it ends later', async () => {
    jest.useFakeTimers();
    try {
      let finishConnect = () => {};
      const state = { connected: false, disconnects: 0 };
      const producer = new RenewingProducer(
        () =>
          ({
            connect: () =>
              new Promise<void>((resolve) => {
                finishConnect = () => {
                  state.connected = true;
                  resolve();
                };
              }),
            disconnect: async () => {
              state.disconnects += 1;
              state.connected = false;
            },
          }) as unknown as Producer,
      );
      const connecting = producer.connect();
      let disconnected = false;
      const disconnecting = producer.disconnect().then(() => (disconnected = true));
      await jest.advanceTimersByTimeAsync(4_000);
      expect(disconnected).toBe(false);
      await jest.advanceTimersByTimeAsync(1_500);
      await disconnecting;
      // Kafka still unreachable: the disconnect did not wait for ever. The connect ends later.
      finishConnect();
      await connecting;
      await jest.advanceTimersByTimeAsync(0);
      expect(state).toEqual({ connected: false, disconnects: 2 });
      await expect(producer.connect()).rejects.toThrow(/disconnected/);
    } finally {
      jest.useRealTimers();
    }
  });
});
