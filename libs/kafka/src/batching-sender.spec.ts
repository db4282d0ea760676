import type { Producer, ProducerRecord } from 'kafkajs';
import { BatchingSender, MessageWithdrawnError } from './batching-sender';

/** A producer that records each send and lets the test finish it. */
function recordingProducer() {
  const calls: { record: ProducerRecord; finish: (error?: Error) => void }[] = [];
  const producer = {
    send: (record: ProducerRecord) =>
      new Promise((resolve, reject) =>
        calls.push({ record, finish: (error) => (error ? reject(error) : resolve([])) }),
      ),
  } as unknown as Producer;
  return { producer, calls };
}

const flushMicrotasks = () => new Promise((resolve) => setImmediate(resolve));

describe('BatchingSender', () => {
  it('sends the first message at once and what queues meanwhile together, one request per topic', async () => {
    const { producer, calls } = recordingProducer();
    const sender = new BatchingSender(producer);
    const first = sender.send('results', { key: 'a', value: '1' });
    await flushMicrotasks();
    expect(calls).toHaveLength(1);
    const queued = [
      sender.send('results', { key: 'b', value: '2' }),
      sender.send('dlq', { key: 'c', value: '3' }),
      sender.send('results', { key: 'd', value: '4' }),
    ];
    calls[0].finish();
    await first;
    await flushMicrotasks();
    expect(calls.slice(1).map((call) => call.record)).toEqual([
      {
        topic: 'results',
        messages: [
          { key: 'b', value: '2' },
          { key: 'd', value: '4' },
        ],
      },
      { topic: 'dlq', messages: [{ key: 'c', value: '3' }] },
    ]);
    calls[1].finish();
    calls[2].finish();
    await Promise.all(queued);
  });

  it('fails only the callers of the topic that failed, and goes on with the next batch', async () => {
    const { producer, calls } = recordingProducer();
    const sender = new BatchingSender(producer);
    const blocker = sender.send('results', { value: '0' });
    await flushMicrotasks();
    const result = sender.send('results', { value: '1' });
    const deadLetter = sender.send('dlq', { value: '2' });
    calls[0].finish();
    await blocker;
    await flushMicrotasks();
    calls[1].finish();
    calls[2].finish(new Error('topic refused'));
    await expect(result).resolves.toBeUndefined();
    await expect(deadLetter).rejects.toThrow('topic refused');
    const later = sender.send('results', { value: '3' });
    await flushMicrotasks();
    calls[3].finish();
    await expect(later).resolves.toBeUndefined();
  });

  it('caps a batch at maxBatch messages', async () => {
    const { producer, calls } = recordingProducer();
    const sender = new BatchingSender(producer, 2);
    const sends = [1, 2, 3, 4].map((i) => sender.send('t', { value: String(i) }));
    for (let i = 0; i < 3; i++) {
      await flushMicrotasks();
      calls[i].finish();
    }
    await Promise.all(sends);
    expect(calls.map((call) => call.record.messages.length)).toEqual([1, 2, 1]);
  });

  it('caps a batch by bytes, so one large message never fails the small ones queued with it', async () => {
    const { producer, calls } = recordingProducer();
    const sender = new BatchingSender(producer, 1000, 100);
    const blocker = sender.send('t', { value: '0' });
    await flushMicrotasks();
    const sends = ['a'.repeat(10), 'b'.repeat(10), 'c'.repeat(90), 'd'.repeat(500), 'e'].map((value) =>
      sender.send('t', { value }),
    );
    calls[0].finish();
    await blocker;
    for (let i = 1; i <= 4; i++) {
      await flushMicrotasks();
      calls[i].finish();
    }
    await Promise.all(sends);
    // Never above 100 bytes unless a message alone is larger: it then goes by itself.
    expect(
      calls.slice(1).map((call) => call.record.messages.map((m) => String(m.value)[0]).join('')),
    ).toEqual(['ab', 'c', 'd', 'e']);
  });

  it('takes back a message still waiting for a batch, not one already on its way', async () => {
    const { producer, calls } = recordingProducer();
    const sender = new BatchingSender(producer);
    const first = sender.sendWithdrawable('requests', { key: 'a', value: '1' });
    await flushMicrotasks();
    const waiting = sender.sendWithdrawable('requests', { key: 'b', value: '2' });
    const kept = sender.send('requests', { key: 'c', value: '3' });
    expect(first.withdraw()).toBe(false);
    expect(waiting.withdraw()).toBe(true);
    await expect(waiting.sent).rejects.toBeInstanceOf(MessageWithdrawnError);
    expect(waiting.withdraw()).toBe(false);
    calls[0].finish();
    await first.sent;
    await flushMicrotasks();
    expect(calls[1].record.messages.map((message) => message.key)).toEqual(['c']);
    calls[1].finish();
    await kept;
  });
});
