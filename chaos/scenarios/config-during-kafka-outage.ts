import { randomBytes } from 'node:crypto';
import { pushRequest } from '../../test/fixtures/push-request.builder';
import { RequestProducer } from '../../bench/support/kafka';
import { ApiClient, startTrustingApi, TokenIssuer } from '../support/api-client';
import { ChaosContext, ChaosSize, log } from '../support/chaos-context';
import { account, readTopic, waitForApplied, waitForTopicSize } from '../support/delivery-audit';
import type { Figure } from '../support/figures';
import { prepareScenario } from '../support/setup';

const SCENARIO = 'config-kafka-outage';
const TENANT = 't0';

/**
 * Kafka stopped while an admin changes a configuration `size.configChanges` times: every change is
 * accepted (the outbox keeps it), published in version order once Kafka is back, and the dispatcher
 * ends on the last one, so pushes use what the admin saved last.
 */
export async function configDuringKafkaOutage(ctx: ChaosContext, size: ChaosSize): Promise<Figure[]> {
  const { database, topics } = await prepareScenario(ctx, SCENARIO, 1);
  const issuer = new TokenIssuer();
  const api = ApiClient.of(await startTrustingApi(ctx, SCENARIO, issuer));
  const dispatcher = await ctx.startDispatcher(SCENARIO, database);
  const token = await issuer.token(TENANT);

  log(`stopping Kafka, then ${size.configChanges} configuration changes`);
  ctx.server('kafka', 'stop');
  const acknowledged: { version: number; client: string }[] = [];
  const refused: string[] = [];
  // Stopping the broker takes longer than the API's keep-alive: without a fresh request first, the first
  // change would go out on a socket the server has closed (a client-side failure, not the API's).
  await api.ready();
  for (let i = 1; i <= size.configChanges; i++) {
    const client = `app-${i}-${randomBytes(2).toString('hex')}`;
    const answer = await api.send({
      method: 'PATCH',
      path: '/mfa/push',
      token,
      json: { settings: { enabled_clients: [client] } },
    });
    if (answer.status === 200)
      acknowledged.push({ version: (answer.body as { version: number }).version, client });
    else refused.push(`${answer.status} ${answer.failure ?? answer.text.slice(0, 200)}`);
  }
  if (refused.length) log(`refused: ${refused.join('; ')}`);
  ctx.server('kafka', 'start');
  const backAt = Date.now();
  const last = acknowledged[acknowledged.length - 1];
  const appliedAt = last
    ? await waitForApplied(ctx.kafka, topics.configApplied, `${TENANT}/push`, last.version)
    : undefined;

  const events = (await readTopic(ctx.kafka, topics.configChanged))
    .filter((record) => record.key === `${TENANT}/push`)
    .map((record) => (JSON.parse(record.value) as { version: number }).version);
  const published = new Set(events);
  const outOfOrder = events.filter((version, i) => i > 0 && version < events[i - 1]).length;
  const stale = last ? await pushesUsingStaleClients(ctx, topics, acknowledged) : 0;
  await dispatcher.stop();
  return [
    { scenario: SCENARIO, name: 'changes accepted while Kafka was down', value: acknowledged.length },
    {
      scenario: SCENARIO,
      name: 'changes refused while Kafka was down',
      value: refused.length,
      expect: 'zero',
      note: refused.join('; '),
    },
    {
      scenario: SCENARIO,
      name: 'accepted changes never published',
      value: acknowledged.filter(({ version }) => !published.has(version)).length,
      expect: 'zero',
    },
    { scenario: SCENARIO, name: 'events published out of version order', value: outOfOrder, expect: 'zero' },
    {
      scenario: SCENARIO,
      name: 'last change not applied by the dispatcher',
      value: appliedAt ? 0 : 1,
      expect: 'zero',
    },
    {
      scenario: SCENARIO,
      name: 'time to recover: Kafka back → last change applied',
      value: appliedAt ? Math.round((appliedAt - backAt) / 100) / 10 : -1,
      unit: 's',
    },
    {
      scenario: SCENARIO,
      name: 'pushes decided by a configuration older than the last',
      value: stale,
      expect: 'zero',
      note: 'a client of the last change is sent; one of an earlier change is refused',
    },
  ];
}

/** A push for the last change's client must be sent, one for the first change's client refused. */
async function pushesUsingStaleClients(
  ctx: ChaosContext,
  topics: { pushRequested: string; pushResults: string },
  acknowledged: { client: string }[],
): Promise<number> {
  const current = pushRequest({
    tenant: TENANT,
    client_id: acknowledged[acknowledged.length - 1].client,
    code: '12',
  });
  const old = pushRequest({ tenant: TENANT, client_id: acknowledged[0].client, code: '34' });
  const probes = acknowledged.length > 1 ? [current, old] : [current];
  const producer = await new RequestProducer(ctx.kafka, topics.pushRequested).connect();
  await producer.sendAll(probes);
  await producer.close();
  await waitForTopicSize(ctx.kafka, topics.pushResults, probes.length, 60_000);
  const { results } = await account(ctx.kafka, topics.pushResults, ctx.peers, probes);
  const stale = results.get(current.challenge_id)?.status === 'sent' ? 0 : 1;
  if (probes.length === 1) return stale;
  return stale + (results.get(old.challenge_id)?.reason === 'client_not_enabled' ? 0 : 1);
}
