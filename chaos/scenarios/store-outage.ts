import { requestsFor, strategyOf } from '../../bench/support/context';
import { RequestProducer } from '../../bench/support/kafka';
import { pushConfigBody } from '../../test/fixtures/mfa-config.builder';
import { ApiAnswer, ApiClient, startTrustingApi, TokenIssuer } from '../support/api-client';
import { ChaosContext, ChaosSize, log, sleep } from '../support/chaos-context';
import { account, waitForApplied, waitForTopicSize } from '../support/delivery-audit';
import type { Figure } from '../support/figures';
import { prepareScenario } from '../support/setup';

const SCENARIO = 'store-outage';
const ADMIN_TENANT = 'store-admin';
/** An answer slower than this counts as a hang: an admin's client would have given up. */
const HANG_MS = 15_000;
const OUTAGE_MS = 15_000;

/**
 * The MongoDB-compatible server stopped: the API answers 503 with a clear message (never a hang,
 * never a 500 with a stack), writes nothing half-way; the dispatcher keeps sending with the clients it
 * holds, and both recover when the server returns.
 */
export async function storeOutage(ctx: ChaosContext, _size: ChaosSize): Promise<Figure[]> {
  const { database, tenants, topics } = await prepareScenario(ctx, SCENARIO);
  const issuer = new TokenIssuer();
  const api = ApiClient.of(await startTrustingApi(ctx, SCENARIO, issuer));
  const dispatcher = await ctx.startDispatcher(SCENARIO, database);
  const token = await issuer.token(ADMIN_TENANT);
  const created = await api.send({ method: 'POST', path: '/mfa', token, json: pushConfigBody() });
  if (created.status !== 201) throw new Error(`could not create the admin's configuration: ${created.text}`);

  log('stopping the MongoDB-compatible server');
  ctx.server('mongo', 'stop');
  const requests = requestsFor(tenants, 200, ['apns', 'fcm'], strategyOf);
  const producer = await new RequestProducer(ctx.kafka, topics.pushRequested).connect();
  const [answers] = await Promise.all([
    adminTrafficDuringOutage(api, issuer, token),
    producer.sendAll(requests, 20),
  ]);
  await producer.close();
  const pushesDuringOutage = await waitForTopicSize(ctx.kafka, topics.pushResults, requests.length, 60_000);
  const accounting = await account(ctx.kafka, topics.pushResults, ctx.peers, requests);

  ctx.server('mongo', 'start');
  const backAt = Date.now();
  const recovered = await firstSuccessfulPatch(api, token);
  const recoverySeconds = (Date.now() - backAt) / 1000;
  const stored = await api.send({ method: 'GET', path: '/mfa/push', token });
  const storedClients = (stored.body as { settings?: { enabled_clients?: string[] } })?.settings
    ?.enabled_clients;
  const appliedAfterRecovery =
    recovered &&
    (await waitForApplied(
      ctx.kafka,
      topics.configApplied,
      `${ADMIN_TENANT}/push`,
      recovered.version,
      60_000,
    ));
  const refusedCreate = await api.send({
    method: 'GET',
    path: '/mfa/push',
    token: await issuer.token('born-in-outage'),
  });
  await dispatcher.stop();

  const byStatus = countBy(answers.map((a) => a.answer.status));
  return [
    {
      scenario: SCENARIO,
      name: 'admin requests while the store was down',
      value: answers.length,
      note: Object.entries(byStatus)
        .map(([status, count]) => `${status}: ${count}`)
        .join(', '),
    },
    {
      scenario: SCENARIO,
      name: 'answers other than 503 with a message',
      value: answers.filter(({ answer }) => !isClear503(answer)).length,
      expect: 'zero',
    },
    {
      scenario: SCENARIO,
      name: `hangs (no answer within ${HANG_MS / 1000} s)`,
      value: answers.filter((a) => a.ms > HANG_MS).length,
      expect: 'zero',
    },
    {
      scenario: SCENARIO,
      name: 'slowest answer while the store was down',
      value: Math.round(Math.max(...answers.map((a) => a.ms)) / 100) / 10,
      unit: 's',
    },
    {
      scenario: SCENARIO,
      name: 'answers showing internals (stack, driver error)',
      value: answers.filter(({ answer }) => showsInternals(answer.text)).length,
      expect: 'zero',
    },
    {
      scenario: SCENARIO,
      name: 'half-written configurations',
      value:
        (sameClients(storedClients, recovered?.clients) ? 0 : 1) + (refusedCreate.status === 404 ? 0 : 1),
      expect: 'zero',
      note: 'stored state = last acknowledged write; a create refused with 503 left nothing',
    },
    {
      scenario: SCENARIO,
      name: 'pushes not sent while the store was down',
      value: requests.length - (accounting.statuses.sent ?? 0) + (pushesDuringOutage ? 0 : 1),
      expect: 'zero',
      note: `${requests.length} requests, sent with the clients the dispatcher held`,
    },
    {
      scenario: SCENARIO,
      name: 'time to recover: store back → first admin change accepted',
      value: recovered ? Math.round(recoverySeconds * 10) / 10 : -1,
      unit: 's',
    },
    {
      scenario: SCENARIO,
      name: 'change after recovery not applied by the dispatcher',
      value: appliedAfterRecovery ? 0 : 1,
      expect: 'zero',
    },
  ];
}

interface TimedAnswer {
  answer: ApiAnswer;
  ms: number;
}

/** Reads, changes and creations, one after another, for as long as the outage lasts. */
async function adminTrafficDuringOutage(
  api: ApiClient,
  issuer: TokenIssuer,
  token: string,
): Promise<TimedAnswer[]> {
  const answers: TimedAnswer[] = [];
  const newcomer = await issuer.token('born-in-outage');
  const until = Date.now() + OUTAGE_MS;
  for (let i = 0; Date.now() < until; i++) {
    const request = [
      { method: 'GET' as const, path: '/mfa/push', token },
      { method: 'GET' as const, path: '/mfa', token },
      {
        method: 'PATCH' as const,
        path: '/mfa/push',
        token,
        json: { settings: { enabled_clients: [`outage-${i}`] } },
      },
      { method: 'POST' as const, path: '/mfa', token: newcomer, json: pushConfigBody() },
    ][i % 4];
    const started = Date.now();
    answers.push({ answer: await api.send(request), ms: Date.now() - started });
    await sleep(200);
  }
  return answers;
}

/** Retries a change until the store takes it: the configuration's new version and clients. */
async function firstSuccessfulPatch(
  api: ApiClient,
  token: string,
): Promise<{ version: number; clients: string[] } | undefined> {
  const clients = ['web-login', 'after-outage'];
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const answer = await api.send({
      method: 'PATCH',
      path: '/mfa/push',
      token,
      json: { settings: { enabled_clients: clients } },
    });
    if (answer.status === 200) return { version: (answer.body as { version: number }).version, clients };
    await sleep(250);
  }
  return undefined;
}

function isClear503(answer: ApiAnswer): boolean {
  const error = (answer.body as { error?: unknown } | undefined)?.error;
  return (
    answer.status === 503 &&
    typeof error === 'string' &&
    error.length > 0 &&
    answer.headers.has('retry-after')
  );
}

/** A stack frame, a file path or a driver's error class: what an admin must never be shown. */
function showsInternals(text: string): boolean {
  return /\bat .+:\d+:\d+|\.ts:\d+|node_modules|Mongo[A-Z]\w*Error|MongooseError/.test(text);
}

const sameClients = (a?: string[], b?: string[]) => JSON.stringify(a) === JSON.stringify(b);

function countBy(values: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
