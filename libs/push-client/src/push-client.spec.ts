import { EventEmitter } from 'node:events';
import type { KafkaSettings } from '@lib/config';
import { PushClient, PushResultTimeoutError } from './push-client';

/*
 * The client's lifecycle against a scripted kafkajs: how Kafka fails here (a listener stopped for good,
 * a close while connecting) cannot be had from the test broker. The e2e spec covers the real one.
 */

type ListenerScript = 'join' | 'crash';

class FakeConsumer extends EventEmitter {
  readonly events = { GROUP_JOIN: 'join', CRASH: 'crash' };
  disconnected = false;
  constructor(private readonly script: ListenerScript) {
    super();
  }
  async connect() {}
  async subscribe() {}
  seek() {}
  async run() {
    setImmediate(() =>
      this.script === 'join'
        ? this.emit('join')
        : this.emit('crash', {
            payload: { error: new Error('Not authorized to access group'), restart: false },
          }),
    );
  }
  async disconnect() {
    this.disconnected = true;
  }
}

class FakeProducer {
  connected = false;
  releaseConnect = () => {};
  constructor(private readonly connectWaits = false) {}
  connect() {
    return new Promise<void>((resolve) => {
      this.releaseConnect = () => {
        this.connected = true;
        resolve();
      };
      if (!this.connectWaits) this.releaseConnect();
    });
  }
  async disconnect() {
    this.connected = false;
  }
  async send() {
    return [];
  }
}

const kafka = {
  listeners: [] as ListenerScript[],
  consumers: [] as FakeConsumer[],
  producer: new FakeProducer(),
  offsetsWait: Promise.resolve(),
};

jest.mock('@lib/kafka', () => ({
  ...jest.requireActual('@lib/kafka'),
  createKafkaClient: () => ({
    admin: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      fetchTopicOffsets: async () => {
        await kafka.offsetsWait;
        return [{ partition: 0, high: '0' }];
      },
    }),
    consumer: () => {
      const consumer = new FakeConsumer(kafka.listeners.shift() ?? 'join');
      kafka.consumers.push(consumer);
      return consumer;
    },
  }),
  orderedIdempotentProducer: () => kafka.producer,
}));

const settings = { clientId: 'spec', topicPrefix: '', brokers: ['127.0.0.1:1'] } as unknown as KafkaSettings;

describe('PushClient lifecycle', () => {
  beforeEach(() => {
    kafka.listeners = [];
    kafka.consumers = [];
    kafka.producer = new FakeProducer();
    kafka.offsetsWait = Promise.resolve();
  });

  it('fails connect() when Kafka stops its listener before it joins, and connects again once fixed', async () => {
    kafka.listeners = ['crash', 'join'];
    const client = new PushClient(settings);
    await expect(client.connect({ awaitResults: true })).rejects.toThrow(/needs Read on that topic/);
    expect(kafka.consumers[0].disconnected).toBe(true);
    await client.connect({ awaitResults: true });
    // Listening again: an await times out as usual, not with the stale failure.
    await expect(client.awaitResult('c1', 20)).rejects.toThrow(PushResultTimeoutError);
    await client.close();
  });

  it('fails the awaits pending, and those after, when Kafka stops its listener for good later', async () => {
    const client = new PushClient(settings);
    await client.connect({ awaitResults: true });
    const pending = expect(client.awaitResult('c1', 60_000)).rejects.toThrow(/listener stopped/);
    kafka.consumers[0].emit('crash', { payload: { error: new Error('Not authorized'), restart: false } });
    await pending;
    await expect(client.awaitResult('c2', 60_000)).rejects.toThrow(/listener stopped/);
    await client.close();
  });

  it('starts no listener when closed while it reads where the results end', async () => {
    let releaseOffsets = () => {};
    kafka.offsetsWait = new Promise<void>((resolve) => (releaseOffsets = resolve));
    const client = new PushClient(settings);
    const connecting = expect(client.connect({ awaitResults: true })).rejects.toThrow(/closed/);
    await new Promise((resolve) => setImmediate(resolve));
    await client.close();
    releaseOffsets();
    await connecting;
    expect(kafka.consumers).toEqual([]);
  });

  it('leaves nothing connected when closed while connecting', async () => {
    kafka.producer = new FakeProducer(true);
    const client = new PushClient(settings);
    const connecting = expect(client.connect({ awaitResults: true })).rejects.toThrow(/closed/);
    const closing = client.close();
    kafka.producer.releaseConnect();
    await Promise.all([connecting, closing]);
    expect(kafka.producer.connected).toBe(false);
    expect(kafka.consumers).toEqual([]);
  });
});
