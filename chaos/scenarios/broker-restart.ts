import { requestsFor, strategyOf } from '../../bench/support/context';
import { RequestProducer } from '../../bench/support/kafka';
import { ChaosContext, ChaosSize, log, sleep } from '../support/chaos-context';
import { account, accountingFigures, waitForTopicSize } from '../support/delivery-audit';
import type { Figure } from '../support/figures';
import { deliveredCount, waitForDelivered } from '../support/requests';
import { prepareScenario } from '../support/setup';

const SCENARIO = 'broker-restart';

/**
 * Kafka stopped mid-stream and started again: `size.inFlight` requests are on the topic, the
 * dispatcher has delivered part of them when the broker goes down for `brokerDownSeconds`.
 */
export async function brokerRestart(ctx: ChaosContext, size: ChaosSize): Promise<Figure[]> {
  const { database, tenants, topics } = await prepareScenario(ctx, SCENARIO);
  const dispatcher = await ctx.startDispatcher(SCENARIO, database);
  const requests = requestsFor(tenants, size.inFlight, ['apns', 'fcm'], strategyOf);
  const producer = await new RequestProducer(ctx.kafka, topics.pushRequested).connect();
  await producer.sendAll(requests);
  await producer.close();

  await waitForDelivered(ctx.peers, Math.floor(size.inFlight / 4));
  const atStop = await deliveredCount(ctx.peers);
  log(`stopping Kafka with ${atStop} of ${size.inFlight} delivered`);
  ctx.server('kafka', 'stop');
  await sleep(size.brokerDownSeconds * 1000);
  const whileDown = (await deliveredCount(ctx.peers)) - atStop;
  ctx.server('kafka', 'start');
  const backAt = Date.now();
  const firstAfter = await waitForDelivered(ctx.peers, atStop + whileDown + 1, 5 * 60_000);
  const complete = await waitForTopicSize(ctx.kafka, topics.pushResults, size.inFlight, 5 * 60_000);
  const lastResultAt = Date.now() - 2000;
  const accounting = await account(ctx.kafka, topics.pushResults, ctx.peers, requests);
  const alive = !dispatcher.exited;
  await dispatcher.stop();
  return [
    ...accountingFigures(SCENARIO, accounting),
    {
      scenario: SCENARIO,
      name: 'pushes delivered while Kafka was down',
      value: whileDown,
      note: 'requests already fetched go on; their results wait for the broker',
    },
    {
      scenario: SCENARIO,
      name: 'time to recover: broker back → next push',
      value: firstAfter ? round((firstAfter - backAt) / 1000) : -1,
      unit: 's',
    },
    {
      scenario: SCENARIO,
      name: 'time to recover: broker back → every result published',
      value: complete ? round((lastResultAt - backAt) / 1000) : -1,
      unit: 's',
    },
    { scenario: SCENARIO, name: 'dispatcher processes that died', value: alive ? 0 : 1, expect: 'zero' },
  ];
}

const round = (value: number) => Math.round(value * 10) / 10;
