/**
 * dispatcher-kill: the dispatcher is killed with SIGKILL a third of the way through `size.inFlight`
 * requests, then (restart) started again, or (replica) one of two replicas is killed and the survivor
 * takes over its partitions once the group gives up on the dead member; and (join, no kill) a second
 * replica joins while the first has pushes in flight. Every request must still get
 * exactly one result; pushes the peers accepted twice are counted (a push made just before the kill
 * whose result was not yet published is pushed again: nothing on the broker says it was made).
 */
import { AssignerProtocol, Partitioners } from 'kafkajs';
import type { PushRequestedEvent } from '@lib/contracts';
import { requestsFor, strategyOf } from '../../bench/support/context';
import { RequestProducer } from '../../bench/support/kafka';
import type { AppProcess } from '../../bench/support/processes';
import { ChaosContext, ChaosSize, log, sleep } from '../support/chaos-context';
import { Accounting, account, accountingFigures, waitForTopicSize } from '../support/delivery-audit';
import type { Figure } from '../support/figures';
import {
  deliveredCount,
  dispatcherMetric,
  lastCompletion,
  pushTimes,
  secondsBetween,
  waitForDelivered,
} from '../support/requests';
import { PreparedScenario, prepareScenario } from '../support/setup';

const SCENARIO = 'dispatcher-kill';
const REQUEST_TTL_MS = 10 * 60_000;
const RESULTS_TIMEOUT_MS = 5 * 60_000;
const REDELIVERIES = 'mfa_push_redeliveries_total';
/** How long the join sub-run's requests take to produce, in how many sends. */
const JOIN_STREAM_MS = 15_000;
const STREAM_CHUNKS = 50;
const JOIN_PEER_DELAY_MS = 500;
/** Fewer than one replica's windows hold at once (6 partitions × 64). */
const RETRYING_REQUESTS = 300;
const RETRIES = 'mfa_push_retries_total';
const RECOVERY_NOTE = 'includes the dead member’s Kafka session timeout (KAFKA_SESSION_TIMEOUT_MS)';

export async function dispatcherKill(ctx: ChaosContext, size: ChaosSize): Promise<Figure[]> {
  return [
    ...(await killAndRestart(ctx, size)),
    ...(await killOneOfTwoReplicas(ctx, size)),
    ...(await secondReplicaJoins(ctx, size)),
    ...(await secondReplicaJoinsWhileRetrying(ctx, size)),
  ];
}

/**
 * No kill: a second replica starts mid-stream and takes partitions from a live one that still has
 * pushes in flight, as in a scale-up or a rolling deploy (DISPATCHER_HANDOVER_GRACE_MS).
 */
async function secondReplicaJoins(ctx: ChaosContext, size: ChaosSize): Promise<Figure[]> {
  const run = await KillRun.prepare(ctx, 'join', size);
  // Answers as slow as a distant provider's: without a hand-over, pushes still in flight at the first
  // replica when the joiner takes their partitions were pushed again (29 of 1,500 in one run).
  await ctx.peers.faults({ provider: 'both', clear: true, delayMs: JOIN_PEER_DELAY_MS });
  const first = await run.startReplica('first');
  // A steady stream, so that requests are in flight at the first replica while the group rebalances.
  const producing = run.produce(JOIN_STREAM_MS);
  await run.waitForAThird();
  const joiner = await run.startReplica('joiner');
  await run.waitForMembers(2);
  await producing;
  const outcome = await run.settle();
  const alive = !first.exited && !joiner.exited;
  await Promise.all([first.stop(), joiner.stop()]);
  await ctx.peers.faults({ provider: 'both', clear: true });
  return [
    ...accountingFigures(SCENARIO, outcome.accounting, 'join'),
    { scenario: SCENARIO, name: 'join: replicas that died', value: alive ? 0 : 1, expect: 'zero' },
  ];
}

/**
 * No kill: the providers fail every push (500) until a second replica has joined, so the first one
 * is retrying every request when its partitions move: each was parked on mfa.push.retrying after its
 * first attempt, and the joiner takes partitions of that topic's group too, with the retries under way.
 */
async function secondReplicaJoinsWhileRetrying(ctx: ChaosContext, size: ChaosSize): Promise<Figure[]> {
  const run = await KillRun.prepare(ctx, 'join-retrying', { ...size, inFlight: RETRYING_REQUESTS });
  await ctx.peers.faults({
    provider: 'both',
    clear: true,
    failNext: { count: 1_000_000, status: 500, reason: 'InternalServerError' },
  });
  const first = await run.startReplica('first');
  await run.produce();
  // As many failed attempts as requests: the retries are well under way when the group rebalances.
  await run.waitUntil(
    `fewer than ${RETRYING_REQUESTS} failed attempts`,
    async () => (await dispatcherMetric(first, RETRIES)) >= RETRYING_REQUESTS,
  );
  const joiner = await run.startReplica('joiner');
  await run.waitForMembers(2);
  await run.waitForMembers(2, { retrying: true });
  await ctx.peers.faults({ provider: 'both', clear: true });
  const outcome = await run.settle();
  const alive = !first.exited && !joiner.exited;
  await Promise.all([first.stop(), joiner.stop()]);
  return [
    ...accountingFigures(SCENARIO, outcome.accounting, 'join-retrying'),
    { scenario: SCENARIO, name: 'join-retrying: replicas that died', value: alive ? 0 : 1, expect: 'zero' },
  ];
}

/** The only dispatcher killed mid-batch, then started again. */
async function killAndRestart(ctx: ChaosContext, size: ChaosSize): Promise<Figure[]> {
  const run = await KillRun.prepare(ctx, 'restart', size);
  const first = await run.startReplica('first');
  await run.produce();
  const kill = await run.killAfterAThird(first);
  const restarted = await run.startReplica('restarted');
  const readyAt = Date.now();
  const outcome = await run.settle();
  const redelivered = await dispatcherMetric(restarted, REDELIVERIES);
  await restarted.stop();
  return [
    ...run.commonFigures(kill, outcome, redelivered),
    run.figure('kill → restarted process ready', secondsBetween(kill.at, readyAt), 's'),
    run.figure(
      'time to recover: kill → first push after the restart',
      secondsBetween(kill.at, firstPushAfter(outcome.pushes, kill.at)),
      's',
      RECOVERY_NOTE,
    ),
  ];
}

/** Two replicas share the requests; one is killed and the survivor must take over its partitions. */
async function killOneOfTwoReplicas(ctx: ChaosContext, size: ChaosSize): Promise<Figure[]> {
  const run = await KillRun.prepare(ctx, 'replica', size);
  const victim = await run.startReplica('victim');
  const survivor = await run.startReplica('survivor');
  await run.waitForMembers(2);
  await run.produce();
  const redeliveredBefore = await dispatcherMetric(survivor, REDELIVERIES);
  const orphaned = await run.requestsOf('victim');
  const kill = await run.killAfterAThird(victim);
  const outcome = await run.settle();
  const alive = !survivor.exited;
  const redelivered = alive ? (await dispatcherMetric(survivor, REDELIVERIES)) - redeliveredBefore : 0;
  await survivor.stop();
  return [
    ...run.commonFigures(kill, outcome, redelivered),
    run.figure(
      'time to recover: kill → survivor’s first push of the dead replica’s partitions',
      secondsBetween(kill.at, firstPushAfter(outcome.pushes, kill.at, orphaned)),
      's',
      `${orphaned.size} requests on its partitions; ${RECOVERY_NOTE}`,
    ),
    { scenario: SCENARIO, name: 'replica: survivor died', value: alive ? 0 : 1, expect: 'zero' },
  ];
}

interface Kill {
  at: number;
  deliveredBefore: number;
}

interface Outcome {
  accounting: Accounting;
  pushes: Map<string, number[]>;
}

/** One sub-run: its own database, topics and consumer group, `size.inFlight` requests to push. */
class KillRun {
  private constructor(
    private readonly ctx: ChaosContext,
    private readonly label: string,
    private readonly prepared: PreparedScenario,
    private readonly requests: PushRequestedEvent[],
  ) {}

  static async prepare(ctx: ChaosContext, label: string, size: ChaosSize): Promise<KillRun> {
    const prepared = await prepareScenario(ctx, `kill-${label}`);
    // Alternating providers: half APNs, half FCM.
    const requests = requestsFor(
      prepared.tenants,
      size.inFlight,
      ['apns', 'fcm'],
      strategyOf,
      REQUEST_TTL_MS,
    );
    return new KillRun(ctx, label, prepared, requests);
  }

  private get name(): string {
    return `kill-${this.label}`;
  }

  private get group(): string {
    return `${this.ctx.topicPrefix(this.name)}chaos-${this.name}`;
  }

  /** A dispatcher of this run; its Kafka client id names it in the group's member list. */
  startReplica(clientId: string): Promise<AppProcess> {
    return this.ctx.startDispatcher(this.name, this.prepared.database, {
      DISPATCHER_CONSUMER_GROUP: `chaos-${this.name}`,
      KAFKA_CLIENT_ID: clientId,
    });
  }

  /** All requests at once, or spread evenly over `overMs`. */
  async produce(overMs = 0): Promise<void> {
    const producer = await new RequestProducer(this.ctx.kafka, this.prepared.topics.pushRequested).connect();
    const chunk = overMs ? Math.ceil(this.requests.length / STREAM_CHUNKS) : this.requests.length;
    try {
      for (let start = 0; start < this.requests.length; start += chunk) {
        await producer.sendAll(this.requests.slice(start, start + chunk));
        if (overMs) await sleep(overMs / STREAM_CHUNKS);
      }
    } finally {
      await producer.close();
    }
  }

  /** SIGKILL once the peers accepted a third of the requests: mid-batch, results in flight. */
  async killAfterAThird(dispatcher: AppProcess): Promise<Kill> {
    await this.waitForAThird();
    // Counted before: after it, a surviving replica's pushes would count too.
    const deliveredBefore = await deliveredCount(this.ctx.peers);
    await dispatcher.kill();
    const kill = { at: Date.now(), deliveredBefore };
    log(
      `${this.name}: killed ${dispatcher.name} (pid ${dispatcher.pid}) with ${kill.deliveredBefore} delivered`,
    );
    return kill;
  }

  /** Polls `condition` until it holds; throws, saying what did not happen, after `timeoutMs`. */
  async waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`${this.name}: ${what} within ${timeoutMs / 1000} s`);
      await sleep(200);
    }
  }

  async waitForAThird(): Promise<void> {
    const third = Math.ceil(this.requests.length / 3);
    if (!(await waitForDelivered(this.ctx.peers, third)))
      throw new Error(`${this.name}: ${third} pushes not delivered within 2 minutes`);
  }

  /** Waits for a result per request, then reads what the broker and the peers hold. */
  async settle(): Promise<Outcome> {
    const { pushResults } = this.prepared.topics;
    if (!(await waitForTopicSize(this.ctx.kafka, pushResults, this.requests.length, RESULTS_TIMEOUT_MS)))
      log(`${this.name}: not every request had a result within ${RESULTS_TIMEOUT_MS / 1000} s`);
    const accounting = await account(this.ctx.kafka, pushResults, this.ctx.peers, this.requests);
    if (accounting.withoutResult > 0) {
      const partitionOf = keyPartitioner(this.prepared.topics.pushRequested, this.ctx.partitions);
      const where = accounting.withoutResultIds.map((id) => `${id} (partition ${partitionOf(id)})`);
      log(`${this.name}: without a result: ${where.join(', ')}`);
    }
    return { accounting, pushes: await pushTimes(this.ctx.peers) };
  }

  /**
   * Waits until the push request group (or, with `retrying`, the group of parked requests) is stable
   * with `count` members, each with partitions.
   */
  waitForMembers(count: number, { retrying = false } = {}): Promise<void> {
    return this.waitUntil(
      `the ${retrying ? 'retrying ' : ''}group did not settle with ${count} members`,
      async () => {
        const assignments = await this.assignments(retrying);
        return assignments.size === count && [...assignments.values()].every((p) => p.length > 0);
      },
      60_000,
    );
  }

  /** The requests on the partitions the member with this client id holds now. */
  async requestsOf(clientId: string): Promise<Set<string>> {
    const partitions = new Set((await this.assignments()).get(`${clientId}-push`) ?? []);
    const partitionOf = keyPartitioner(this.prepared.topics.pushRequested, this.ctx.partitions);
    return new Set(this.requests.map((r) => r.challenge_id).filter((id) => partitions.has(partitionOf(id))));
  }

  /** Push request (or parked request) partitions by member client id, while the group is stable (empty otherwise). */
  private async assignments(retrying = false): Promise<Map<string, number[]>> {
    const admin = this.ctx.kafka.admin();
    await admin.connect();
    try {
      const [group] = (await admin.describeGroups([retrying ? `${this.group}-retrying` : this.group])).groups;
      if (group?.state !== 'Stable') return new Map();
      const topic = retrying ? this.prepared.topics.pushRetrying : this.prepared.topics.pushRequested;
      return new Map(
        group.members.map((member) => [
          member.clientId,
          AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment[topic] ?? [],
        ]),
      );
    } finally {
      await admin.disconnect();
    }
  }

  /** The figures both sub-runs report. */
  commonFigures(kill: Kill, outcome: Outcome, redelivered: number): Figure[] {
    const { accounting } = outcome;
    return [
      ...accountingFigures(SCENARIO, accounting, this.label),
      this.figure('pushes delivered just before the kill', kill.deliveredBefore),
      this.figure(
        'handled by the killed process but not committed',
        redelivered + accounting.deliveredTwice,
        '',
        `${redelivered} redelivered and answered from the results topic, ${accounting.deliveredTwice} pushed again (result not yet published)`,
      ),
      this.figure(
        'time to recover: kill → last result',
        secondsBetween(kill.at, lastCompletion(accounting.results.values())),
        's',
      ),
    ];
  }

  figure(name: string, value: number, unit = '', note?: string): Figure {
    return { scenario: SCENARIO, name: `${this.label}: ${name}`, value, ...(unit && { unit }), note };
  }
}

/** The partition kafkajs's default partitioner (the RequestProducer's) gives a key. */
function keyPartitioner(topic: string, partitions: number): (key: string) => number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    partitionErrorCode: 0,
    leader: 0,
    replicas: [0],
    isr: [0],
  }));
  return (key) => partitioner({ topic, partitionMetadata, message: { key, value: null } });
}

/** The first push after `at` (of the given challenges only, when given). */
function firstPushAfter(pushes: Map<string, number[]>, at: number, among?: Set<string>): number | undefined {
  let first: number | undefined;
  for (const [challengeId, times] of pushes) {
    if (among && !among.has(challengeId)) continue;
    for (const time of times) if (time > at && (first === undefined || time < first)) first = time;
  }
  return first;
}
