import { EventEmitter } from 'node:events';
import type { KafkaSettings } from '@lib/config';
import type { PushRequestedEvent } from '@lib/contracts';
import {
  InvalidPushRequestError,
  PushClient,
  PushRequestNotAcknowledgedError,
  PushResultTimeoutError,
} from './push-client';

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
  private eachMessage?: (payload: {
    partition: number;
    message: { offset: string; value: Buffer };
  }) => Promise<void>;
  private offset = 0;
  /** Hands the client a record of mfa.push.results, as kafkajs would. */
  deliver(result: object) {
    return this.eachMessage!({
      partition: 0,
      message: { offset: String(this.offset++), value: Buffer.from(JSON.stringify(result)) },
    });
  }
  async run(config: { eachMessage: FakeConsumer['eachMessage'] }) {
    this.eachMessage = config.eachMessage;
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
  /** The records sent, and what a send waits for before it is acknowledged. */
  readonly sent: { topic: string; messages: unknown[] }[] = [];
  sendWaits: Promise<void> = Promise.resolve();
  async send(record: { topic: string; messages: unknown[] }) {
    this.sent.push(record);
    await this.sendWaits;
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
      listTopics: async () => ['mfa.push.requested', 'mfa.push.results'],
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

describe('PushClient requests', () => {
  const request = (overrides: Partial<PushRequestedEvent> = {}): PushRequestedEvent => ({
    challenge_id: 'ch-1',
    tenant: 'acme',
    client_id: 'web-login',
    device: { provider: 'fcm', token: 'fcm-token' },
    expires_at: new Date(Date.now() + 60_000).toISOString(),
    ...overrides,
  });
  beforeEach(() => {
    kafka.producer = new FakeProducer();
  });

  it('refuses an expires_at already past or more than 15 minutes ahead, sending nothing', async () => {
    const client = new PushClient(settings);
    const past = request({ expires_at: new Date(Date.now() - 1000).toISOString() });
    await expect(client.requestChallenge(past)).rejects.toThrow(/expires_at .* is past; nothing was sent/);
    const far = request({ expires_at: new Date(Date.now() + 16 * 60_000).toISOString() });
    await expect(client.requestChallenge(far)).rejects.toThrow(/more than 15 minutes ahead/);
    expect(kafka.producer.sent).toEqual([]);
    await client.close();
  });

  it('sends a request again as it was, but refuses its id with other content (when awaiting results)', async () => {
    const client = new PushClient(settings);
    await client.connect({ awaitResults: true });
    const first = request();
    await client.requestChallenge(first);
    // The same request, its keys in another order: a retry.
    const reordered = Object.fromEntries(Object.entries(first).reverse()) as unknown as PushRequestedEvent;
    await client.requestChallenge(reordered);
    const otherDevice = request({
      expires_at: first.expires_at,
      device: { provider: 'fcm', token: 'other' },
    });
    const reuse = client.requestChallenge(otherDevice);
    await expect(reuse).rejects.toThrow(InvalidPushRequestError);
    await expect(reuse).rejects.toThrow(/challenge_id ch-1 was requested before with other content/);
    await expect(reuse).rejects.toThrow(/send the very same request \(keep its expires_at\)/);
    expect(kafka.producer.sent).toHaveLength(2);
    await client.close();
  });

  it('sends the requests asked for while a send is under way together, and says so when Kafka does not acknowledge in time', async () => {
    let acknowledge = () => {};
    kafka.producer.sendWaits = new Promise<void>((resolve) => (acknowledge = resolve));
    const client = new PushClient(settings, { sendTimeoutMs: 50 });
    const first = client.requestChallenge(request({ challenge_id: 'ch-a' }));
    const queued = ['ch-b', 'ch-c'].map((id) => client.requestChallenge(request({ challenge_id: id })));
    for (const sending of [first, ...queued])
      await expect(sending).rejects.toThrow(PushRequestNotAcknowledgedError);
    // The first was on its way; those behind it were taken back, so no expired backlog goes out later.
    await expect(first).rejects.toThrow(/not acknowledged by Kafka within 50 ms .* it may still be written/);
    await expect(queued[0]).rejects.toThrow(/it was not sent: send it again/);
    acknowledge();
    await new Promise((resolve) => setImmediate(resolve));
    expect(kafka.producer.sent.map((record) => record.messages.length)).toEqual([1]);
    // Sent together: what is asked for while a send is under way goes in the next one.
    kafka.producer.sendWaits = Promise.resolve();
    const together = ['ch-d', 'ch-e', 'ch-f'].map((id) =>
      client.requestChallenge(request({ challenge_id: id })),
    );
    await Promise.all(together);
    expect(kafka.producer.sent.map((record) => record.messages.length)).toEqual([1, 1, 2]);
    await client.close();
  });

  it('forgets a request it took back unsent, so its id can carry a corrected one', async () => {
    let acknowledge = () => {};
    kafka.producer.sendWaits = new Promise<void>((resolve) => (acknowledge = resolve));
    const client = new PushClient(settings, { sendTimeoutMs: 50 });
    await client.connect({ awaitResults: true });
    // On its way (not taken back when its time is up): it fails too, as Kafka does not answer.
    const ahead = client.requestChallenge(request({ challenge_id: 'ch-ahead' })).catch(() => undefined);
    await expect(client.requestChallenge(request())).rejects.toThrow(/it was not sent/);
    acknowledge();
    await ahead;
    kafka.producer.sendWaits = Promise.resolve();
    await client.requestChallenge(request({ device: { provider: 'fcm', token: 'corrected' } }));
    await client.close();
  });

  it('keeps the first result of a challenge for every await, whatever comes after it', async () => {
    const client = new PushClient(settings);
    await client.connect({ awaitResults: true });
    await client.requestChallenge(request());
    const results = kafka.consumers[kafka.consumers.length - 1];
    const result = (status: string, challenge_id = 'ch-1') => ({ challenge_id, tenant: 'acme', status });
    await results.deliver(result('sent'));
    expect(await client.awaitResult('ch-1')).toMatchObject({ status: 'sent' });
    // More results than the client keeps of others' (a busy system, seconds), then a second copy.
    for (let i = 0; i < 10_001; i++) await results.deliver(result('sent', `other-${i}`));
    await results.deliver(result('expired'));
    expect(await client.awaitResult('ch-1', 0)).toMatchObject({ status: 'sent' });
    await client.close();
  });

  it('forgets the requests of expired challenges, also behind one with a longer life', async () => {
    const client = new PushClient(settings);
    await client.connect({ awaitResults: true });
    const start = Date.now();
    const now = jest.spyOn(Date, 'now').mockReturnValue(start);
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    try {
      await client.requestChallenge(request({ challenge_id: 'long', expires_at: at(15 * 60_000) }));
      await client.requestChallenge(request({ challenge_id: 'short', expires_at: at(30_000) }));
      now.mockReturnValue(start + 10 * 60_000);
      // Forgotten: its id may carry another request (were it remembered, that would be refused).
      await client.requestChallenge(request({ challenge_id: 'short', expires_at: at(60_000) }));
      const reuse = client.requestChallenge(request({ challenge_id: 'long', expires_at: at(60_000) }));
      await expect(reuse).rejects.toThrow(/was requested before with other content/);
    } finally {
      now.mockRestore();
      await client.close();
    }
  });

  it('refuses a number-matching request the dispatcher would reject, naming the field and sending nothing', async () => {
    const client = new PushClient(settings);
    for (const [fields, problem] of [
      [{ strategy: 'code' }, /code is required for number matching/],
      [{ strategy: 'code', code: '42', values: ['17', '93', '55'] }, /values must contain code/],
      [
        { strategy: 'code', code: '42', values: ['42', '7', '93'] },
        /values must all have as many digits as code/,
      ],
    ] as const)
      await expect(client.requestChallenge(request(fields as Partial<PushRequestedEvent>))).rejects.toThrow(
        problem,
      );
    expect(kafka.producer.sent).toEqual([]);
    await client.close();
  });

  it('refuses a sendTimeoutMs that is not a positive number of milliseconds', () => {
    for (const sendTimeoutMs of [0, -1, Number.NaN])
      expect(() => new PushClient(settings, { sendTimeoutMs })).toThrow(/sendTimeoutMs/);
  });
});
