import { connect as http2Connect } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import { sign, KeyObject } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { ServiceAccountCredential } from '../../apps/dispatcher/src/senders/service-account.credential';
import { SandboxRedirectAgent } from '../../apps/dispatcher/src/senders/provider-agent';
import { BUNDLE } from '../support/tenants';

const base64url = (value: object | Buffer) =>
  (Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value))).toString('base64url');

/** A payload of the size and shape the dispatcher sends. */
function challengePayload(i: number): string {
  return JSON.stringify({
    aps: {
      alert: {
        title: 'Approve sign-in?',
        body: 'Someone is signing in to Acme Portal from Lisbon, PT. Approve if it is you.',
      },
      sound: 'default',
      category: 'MFA_PROMPT',
      'interruption-level': 'time-sensitive',
    },
    challenge_id: `ceiling-${i}`,
    strategy: 'prompt',
    context:
      '{"app_name":"Acme Portal","ip":"203.0.113.7","location":"Lisbon, PT","user_agent":"Firefox/140"}',
  });
}

/**
 * The APNs ceiling: a minimal HTTP/2 client (one session, one provider token signed once) sending the
 * dispatcher's requests straight to the peer, `inFlight` at a time. Returns requests per second.
 */
export async function apnsCeiling(
  endpoint: string,
  caPem: string,
  key: KeyObject,
  keyId: string,
  teamId: string,
  count: number,
  inFlight = 200,
): Promise<number> {
  const header = base64url({ alg: 'ES256', kid: keyId });
  const claims = base64url({ iss: teamId, iat: Math.floor(Date.now() / 1000) });
  const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
  const token = `${header}.${claims}.${base64url(signature)}`;
  const session = http2Connect(`https://${endpoint}`, { ca: caPem });
  await new Promise<void>((resolve, reject) =>
    session.once('connect', () => resolve()).once('error', reject),
  );
  const send = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': `/3/device/${'ab'.repeat(32)}`,
        authorization: `bearer ${token}`,
        'apns-topic': BUNDLE,
        'apns-push-type': 'alert',
        'apns-priority': '10',
        'apns-expiration': String(Math.floor(Date.now() / 1000) + 60),
        'apns-collapse-id': `ceiling-${i}`,
      });
      stream.on('response', (headers) => {
        if (headers[':status'] !== 200) reject(new Error(`APNs peer answered ${headers[':status']}`));
      });
      stream.on('data', () => undefined);
      stream.on('end', resolve);
      stream.on('error', reject);
      stream.end(challengePayload(i));
    });
  await send(-1); // the first valid token raises the stream limit, as at Apple
  const started = process.hrtime.bigint();
  await runConcurrently(count, inFlight, send);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  session.close();
  return count / seconds;
}

/** The FCM ceiling: plain HTTPS keep-alive requests to messages:send with one OAuth2 token. */
export async function fcmCeiling(
  fcmUrl: string,
  caPem: string,
  clientEmail: string,
  privateKeyPem: string,
  projectId: string,
  count: number,
  inFlight = 64,
): Promise<number> {
  const url = new URL(fcmUrl);
  const agent = new SandboxRedirectAgent({ host: url.hostname, port: Number(url.port) }, caPem);
  const { access_token } = await new ServiceAccountCredential(
    clientEmail,
    privateKeyPem,
    agent,
  ).getAccessToken();
  const pooled = new Agent({ keepAlive: true, maxSockets: inFlight, ca: caPem });
  const send = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({
        message: {
          token: `fcm-ceiling-${i}`,
          notification: {
            title: 'Approve sign-in?',
            body: 'Someone is signing in to Acme Portal from Lisbon, PT.',
          },
          data: { challenge_id: `ceiling-${i}`, strategy: 'prompt' },
          android: { priority: 'high', ttl: '60s', collapse_key: `ceiling-${i}` },
        },
      });
      const request = httpsRequest(
        {
          host: url.hostname,
          port: Number(url.port),
          path: `/v1/projects/${projectId}/messages:send`,
          method: 'POST',
          agent: pooled,
          headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
        },
        (response) => {
          response.resume();
          response.on('end', () =>
            response.statusCode === 200
              ? resolve()
              : reject(new Error(`FCM peer answered ${response.statusCode}`)),
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  const started = process.hrtime.bigint();
  await runConcurrently(count, inFlight, send);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  pooled.destroy();
  agent.destroy();
  return count / seconds;
}

/** The Kafka ceiling: a bare kafkajs consumer draining the same topic, doing nothing per message. */
export async function kafkaDrainCeiling(kafka: Kafka, topic: string, count: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-ceiling-${Date.now()}`, maxWaitTimeInMs: 20 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  // From joining the group (partitions assigned) to the last message: fetching included.
  let first = 0;
  let last = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => (first = Date.now()));
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      partitionsConsumedConcurrently: 12,
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= count) {
          last = Date.now();
          resolve();
        }
      },
    });
  });
  await done;
  await consumer.disconnect();
  return count / Math.max(0.001, (last - first) / 1000);
}

async function runConcurrently(
  count: number,
  inFlight: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
}

/**
 * The Kafka latency floor: a bare kafkajs consumer (eachBatch, the dispatcher's fetch settings) reading
 * what a producer sends at `rate`/s, produce to consume, nothing else. Returns the latencies in ms.
 */
export async function kafkaLatencyFloor(
  kafka: Kafka,
  topic: string,
  rate: number,
  seconds: number,
): Promise<number[]> {
  const consumer = kafka.consumer({ groupId: `bench-floor-${Date.now()}`, maxWaitTimeInMs: 50 });
  const latencies: number[] = [];
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  await consumer.run({
    partitionsConsumedConcurrently: 12,
    // No commits: kafkajs's commit after every batch holds the next fetch back (see the dispatcher's
    // ResilientConsumer); the floor is what fetching alone costs.
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const message of batch.messages) latencies.push(now - Number(message.value!.toString()));
    },
  });
  await joined;
  // A new group starts at the end of the log only once its first fetch has set the position.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const producer = kafka.producer();
  await producer.connect();
  const perTick = Math.max(1, Math.round(rate / 100));
  const started = Date.now();
  for (let tick = 1; tick <= seconds * 100; tick++) {
    void producer.send({
      topic,
      messages: Array.from({ length: perTick }, () => ({ value: String(Date.now()) })),
    });
    // On a schedule, as the load generator is: a late tick is not followed by a full pause.
    const wait = started + tick * 10 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await producer.disconnect();
  await consumer.disconnect();
  return latencies;
}
