import type { Producer, ProducerBatch } from 'kafkajs';
import { BatchingSender } from './batching-sender';

/** A producer that records each sendBatch and lets the test finish it. */
function recordingProducer() {
  const calls: { batch: ProducerBatch; finish: (error?: Error) => void }[] = [];
  const producer = {
    sendBatch: (batch: ProducerBatch) =>
      new Promise((resolve, reject) =>
        calls.push({ batch, finish: (error) => (error ? reject(error) : resolve([])) }),
      ),
  } as unknown as Producer;
  return { producer, calls };
}

const flushMicrotasks = () => new Promise((resolve) => setImmediate(resolve));

describe('BatchingSender', () => {
  it('sends the first message at once and what queues meanwhile as one request, by topic', async () => {
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
    expect(calls).toHaveLength(2);
    expect(calls[1].batch.topicMessages).toEqual([
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
    await Promise.all(queued);
  });

  it('fails the callers of a failed request only, and goes on with the next', async () => {
    const { producer, calls } = recordingProducer();
    const sender = new BatchingSender(producer);
    const failed = sender.send('results', { key: 'a', value: '1' });
    await flushMicrotasks();
    const later = sender.send('results', { key: 'b', value: '2' });
    calls[0].finish(new Error('broker away'));
    await expect(failed).rejects.toThrow('broker away');
    await flushMicrotasks();
    calls[1].finish();
    await expect(later).resolves.toBeUndefined();
  });

  it('caps a request at maxBatch messages', async () => {
    const { producer, calls } = recordingProducer();
    const sender = new BatchingSender(producer, 2);
    const sends = [1, 2, 3, 4].map((i) => sender.send('t', { value: String(i) }));
    await flushMicrotasks();
    calls[0].finish();
    await flushMicrotasks();
    calls[1].finish();
    await flushMicrotasks();
    calls[2].finish();
    await Promise.all(sends);
    expect(calls.map((call) => call.batch.topicMessages![0].messages.length)).toEqual([1, 2, 1]);
  });
});
