import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { resolveTopicNames } from '@lib/contracts';
import type { MfaConfigRecord } from '@lib/mfa-config';
import { signDevToken } from '../../apps/config-api/src/auth/dev-signing-key';
import { BenchContext, requestsFor } from '../support/context';
import { LatencySummary, summarize } from '../support/histogram';
import { createTopic, RequestProducer, TopicWatcher } from '../support/kafka';

const WARM_UP_MS = 5000;

export interface ReloadFigures {
  patches: number;
  streamPerSecond: number;
  patchToFirstPushWithNewKey: LatencySummary;
  requests: number;
  lostOrFailed: number;
  /** Keys no push was signed with: a later swap replaced them before the dispatcher read them. */
  swapsNotObserved: number;
  /** Swaps after which no push was signed with their key or a later one (must be 0). */
  swapsNeverInEffect: number;
}

/**
 * Scenario 4: a steady APNs stream for one tenant while its key is replaced through PATCH /mfa/push
 * again and again. Each swap is timed from the API's 200 to the first push signed with the new key id.
 */
export async function hotReload(
  ctx: BenchContext,
  database: string,
  tenant: string,
  patches: number,
): Promise<ReloadFigures> {
  const scenario = 'reload';
  const topics = resolveTopicNames({ topicPrefix: ctx.topicPrefix(scenario) });
  await createTopic(ctx.kafka, topics.pushRequested, ctx.partitions);
  await createTopic(ctx.kafka, topics.pushResults, ctx.partitions);
  const api = await ctx.startConfigApi(scenario, database);
  const dispatcher = await ctx.startDispatcher(scenario, database);
  const results = await new TopicWatcher(ctx.kafka, topics.pushResults).start();
  const producer = await new RequestProducer(ctx.kafka, topics.pushRequested).connect();
  const token = await signDevToken(ctx.stateDir, { tenant, scopes: ['update:mfa'] });
  await ctx.peers.clear();

  const rate = 500;
  let streaming = true;
  const sent: string[] = [];
  const stream = (async () => {
    const started = Date.now();
    for (let tick = 1; streaming; tick++) {
      const batch = requestsFor([tenant], rate / 100, ['apns'], () => 'prompt');
      batch.forEach((request) => sent.push(request.challenge_id));
      void producer.send(batch);
      const wait = started + tick * 10 - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();

  // As in a system that has been running (and as the latency scenario does): the dispatcher's first
  // seconds (the hand-over grace before it reads a partition new to it, code not yet optimised, the
  // API's start-up backlog of events) belong to a start, not to a reload. The swaps begin once that
  // backlog is published and applied, and the stream has run for a while with its results caught up.
  await untilConfigurationsSettled(database, 60_000);
  await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
  if (!(await results.waitForCount(sent.length, 60_000)))
    throw new Error('the stream did not catch up within 60 s of its warm-up');

  const swaps: { keyId: string; okAt: number }[] = [];
  for (let i = 1; i <= patches; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const keyId = `R${String(i).padStart(4, '0')}${ctx.runId}`.slice(0, 10).toUpperCase();
    await ctx.peers.call({
      cmd: 'trust',
      apnsKeys: [
        {
          keyId,
          teamId: ctx.credentials.teamId(tenant),
          publicPem: createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString(),
        },
      ],
      topics: [],
      serviceAccounts: [],
    });
    const response = await fetch(`http://127.0.0.1:${api.port}/mfa/push`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        settings: { apns: { key: key.export({ type: 'pkcs8', format: 'pem' }).toString(), key_id: keyId } },
      }),
    });
    if (response.status !== 200)
      throw new Error(`PATCH /mfa/push answered ${response.status}: ${await response.text()}`);
    swaps.push({ keyId, okAt: Date.now() });
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  streaming = false;
  await stream;
  await results.waitForCount(sent.length, 60_000);

  const arrivals = (await ctx.peers.arrivals()).apns;
  const firstUse = swaps.map(({ keyId }) => {
    const uses = arrivals.filter(([, , kid]) => kid === keyId).map(([, at]) => at);
    return uses.length ? Math.min(...uses) : Infinity;
  });
  // A swap has taken effect once a push is signed with its key or a later one: the dispatcher
  // applies the newest stored version, so a key replaced before it was read is never used. Timing
  // only the keys seen would drop exactly the slowest swaps (those slower than the gap to the next).
  const delays = swaps.map(({ okAt }, i) => Math.max(0, Math.min(...firstUse.slice(i)) - okAt));
  const lostOrFailed = sent.filter((id) => results.statuses.get(id) !== 'sent').length;
  await producer.close();
  await results.stop();
  await dispatcher.stop();
  await api.stop();
  return {
    patches,
    streamPerSecond: rate,
    patchToFirstPushWithNewKey: summarize(delays.filter(Number.isFinite)),
    requests: sent.length,
    lostOrFailed,
    swapsNotObserved: firstUse.filter((at) => !Number.isFinite(at)).length,
    swapsNeverInEffect: delays.filter((d) => !Number.isFinite(d)).length,
  };
}

/** Waits until no configuration has events to publish and each reports its current version applied. */
async function untilConfigurationsSettled(database: string, timeoutMs: number): Promise<void> {
  const client = await MongoClient.connect(database);
  try {
    const configurations = client.db().collection<MfaConfigRecord>('mfa_configs');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const unsettled = (await configurations.find({ deleted: false }).toArray()).filter(
        (c) => c.pending_events.length > 0 || c.status?.version !== c.version,
      ).length;
      if (unsettled === 0) return;
      if (Date.now() > deadline)
        throw new Error(`${unsettled} configurations not published and applied within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await client.close();
  }
}
