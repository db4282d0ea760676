import type { INestApplicationContext } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { AppConfig, loadAppConfig } from '@lib/config';
import { PushRequestedEvent, PushResultEvent, resolveTopicNames } from '@lib/contracts';
import { startDispatcherApp } from '../../apps/dispatcher/src/dispatcher.app';
import type { ApnsPeer } from '../peers/apns-peer';
import type { FcmPeer } from '../peers/fcm-peer';
import type { TestEnv } from './test-environment';
import { TopicReader } from './topic-reader';

export interface DispatcherHarness {
  app: INestApplicationContext;
  config: AppConfig;
  close: () => Promise<void>;
}

/** A dispatcher as main.ts builds it, its SDKs pointed at the loopback peers by configuration only. */
export async function startDispatcher(
  env: TestEnv,
  peers: { apns: ApnsPeer; fcm: FcmPeer },
  overrides: TestEnv = {},
): Promise<DispatcherHarness> {
  const config = loadAppConfig(
    {
      ...env,
      APNS_ENDPOINT: `${peers.apns.host}:${peers.apns.port}`,
      FCM_ENDPOINT: peers.fcm.url,
      PUSH_SANDBOX_CA_FILE: peers.apns.caFile,
      DISPATCHER_REPLICA_ID: `replica-${randomUUID().slice(0, 8)}`,
      PUSH_SEND_TIMEOUT_MS: '3000',
      PUSH_IDLE_SESSION_TIMEOUT_MS: '2000',
      DISPATCHER_PORT: '0',
      ...overrides,
    },
    'dispatcher',
  );
  const app = await startDispatcherApp(config, ['error', 'warn']);
  return { app, config, close: () => app.close() };
}

/** A dispatcher with the readers and the producer a test needs around it. */
export interface DispatcherStack {
  dispatcher: DispatcherHarness;
  requester: PushRequester;
  results: TopicReader;
  applied: TopicReader;
  resultOf: (challengeId: string, timeoutMs?: number) => Promise<PushResultEvent>;
  close: () => Promise<void>;
}

/** startDispatcher, with readers of the results and of the applied reports, and a push requester. */
export async function startDispatcherStack(
  env: TestEnv,
  peers: { apns: ApnsPeer; fcm: FcmPeer },
  overrides: TestEnv = {},
): Promise<DispatcherStack> {
  const dispatcher = await startDispatcher(env, peers, overrides);
  const topics = resolveTopicNames(dispatcher.config.kafka);
  const [results, applied] = await Promise.all([
    new TopicReader(dispatcher.config, topics.pushResults).start(),
    new TopicReader(dispatcher.config, topics.configApplied).start(),
  ]);
  const requester = await new PushRequester(dispatcher.config).connect();
  return {
    dispatcher,
    requester,
    results,
    applied,
    resultOf: (challengeId, timeoutMs) =>
      results
        .waitFor((m) => m.key === challengeId, timeoutMs)
        .then((m) => m.value as unknown as PushResultEvent),
    close: async () => {
      await Promise.allSettled([results.stop(), applied.stop(), requester.close()]);
      await dispatcher.close();
    },
  };
}

/** What an internal service does: put a push request on mfa.push.requested, keyed by challenge id. */
export class PushRequester {
  private readonly producer: Producer;
  private readonly topic: string;

  constructor(config: AppConfig) {
    const kafka = new Kafka({
      clientId: 'test-requester',
      brokers: config.kafka.brokers,
      logLevel: logLevel.NOTHING,
    });
    this.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    this.topic = resolveTopicNames(config.kafka).pushRequested;
  }

  async connect(): Promise<this> {
    await this.producer.connect();
    return this;
  }

  async request(request: PushRequestedEvent): Promise<void> {
    await this.raw(request.challenge_id, JSON.stringify(request));
  }

  /** Requests on one partition, in this order. */
  async requestOn(partition: number, ...requests: PushRequestedEvent[]): Promise<void> {
    await this.producer.send({
      topic: this.topic,
      messages: requests.map((request) => ({
        partition,
        key: request.challenge_id,
        value: JSON.stringify(request),
      })),
    });
  }

  /** Any message, on the push request topic unless another is named. */
  async raw(key: string | null, value: string, topic = this.topic): Promise<void> {
    await this.producer.send({ topic, messages: [{ key, value }] });
  }

  /** Bytes that need not be text at all. */
  async rawBuffer(key: string, value: Buffer): Promise<void> {
    await this.producer.send({ topic: this.topic, messages: [{ key, value }] });
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}
