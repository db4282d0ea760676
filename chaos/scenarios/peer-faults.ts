/**
 * peer-faults: the APNs and FCM peers turn slow (2 s per answer), flap (connections reset), throttle
 * (429 with Retry-After) and fail (500, 503, 503 with a Retry-After longer than the send timeout), one
 * fault at a time, `size.perPeerFault` requests each, to one dispatcher. A transient fault must cost
 * retries, never a request: each one is sent, nothing ends before its expires_at. Then 503 for longer
 * than the requests live: each must be reported expired. The dispatcher's memory is sampled throughout.
 */
import type { PushRequestedEvent, PushResultEvent } from '@lib/contracts';
import { requestsFor, strategyOf } from '../../bench/support/context';
import { RequestProducer } from '../../bench/support/kafka';
import type { PeerFaults } from '../../bench/support/peers';
import type { AppProcess } from '../../bench/support/processes';
import { ChaosContext, ChaosSize, log, sleep } from '../support/chaos-context';
import { account, accountingFigures, waitForTopicSize } from '../support/delivery-audit';
import type { Figure } from '../support/figures';
import { dispatcherMetric, lastCompletion, pushTimes, secondsBetween } from '../support/requests';
import { PreparedScenario, prepareScenario } from '../support/setup';

const SCENARIO = 'peer-faults';
const TRANSIENT_TTL_MS = 10 * 60_000;
/** Shorter than the 503s last: every request must run out of time while retrying. */
const OUTLIVED_TTL_MS = 4000;
const RETRY_AFTER_SECONDS = 2;
/** Longer than the dispatcher's send timeout (PUSH_SEND_TIMEOUT_MS, 10 s): the wait must not end with it. */
const LONG_RETRY_AFTER_SECONDS = 12;
const RESULTS_TIMEOUT_MS = 3 * 60_000;
const RSS_SAMPLE_MS = 200;

/**
 * Error answers per request. node-apn resends a 429/5xx itself up to 3 times at once (firebase-admin's
 * own resends are turned off): with fewer, node-apn absorbs the fault and the dispatcher's own retries
 * never run.
 */
const FAILURES_PER_REQUEST = 4;

type FaultOf = (perPeer: number) => Omit<PeerFaults, 'provider' | 'clear'>;

const failing =
  (status: number, reason: string, retryAfterSeconds?: number, perRequest = FAILURES_PER_REQUEST): FaultOf =>
  (perPeer) => ({ failNext: { count: perPeer * perRequest, status, reason, retryAfterSeconds } });

/** Each fault, given how many requests each peer gets: transient, so every request must get through. */
const TRANSIENT_FAULTS: [string, FaultOf][] = [
  ['slow (2 s)', () => ({ delayMs: 2000 })],
  // A reset tears down the whole connection, with every request in flight on it.
  ['flapping (resets)', (perPeer) => ({ resets: Math.ceil(perPeer / 2) })],
  // Apple's 429 for provider-token churn; its per-device one (TooManyRequests) ends a challenge at once.
  [
    `429 (Retry-After ${RETRY_AFTER_SECONDS} s)`,
    failing(429, 'TooManyProviderTokenUpdates', RETRY_AFTER_SECONDS),
  ],
  ['500', failing(500, 'InternalServerError')],
  ['503', failing(503, 'ServiceUnavailable')],
  // One per request: the next attempt waits out the Retry-After, longer than the send timeout.
  [
    `503 (Retry-After ${LONG_RETRY_AFTER_SECONDS} s)`,
    failing(503, 'ServiceUnavailable', LONG_RETRY_AFTER_SECONDS, 1),
  ],
];

export async function peerFaults(ctx: ChaosContext, size: ChaosSize): Promise<Figure[]> {
  const prepared = await prepareScenario(ctx, SCENARIO);
  const dispatcher = await ctx.startDispatcher(SCENARIO, prepared.database);
  const run = new FaultRun(ctx, prepared, dispatcher, size.perPeerFault);
  // Unfaulted first: the clients and sessions it builds are not growth the faults caused.
  const figures = await run.transient('no fault', () => ({}));
  const memory = new RssSampler(dispatcher);
  for (const [name, fault] of TRANSIENT_FAULTS) figures.push(...(await run.transient(name, fault)));
  figures.push(...(await run.outlived()));
  await sleep(2000);
  figures.push(...memory.stop(), run.aliveFigure());
  await dispatcher.stop();
  return figures;
}

/** What one fault's requests came to. */
interface FaultOutcome {
  requests: PushRequestedEvent[];
  results: Map<string, PushResultEvent>;
  /** When each request was produced, by challenge id. */
  producedAt: Map<string, number>;
  /** The accounting figures, the dispatcher's retries and produce → last result. */
  figures: Figure[];
}

/** One dispatcher, one topic pair: each fault's requests are produced after the previous ones ended. */
class FaultRun {
  private produced = 0;

  constructor(
    private readonly ctx: ChaosContext,
    private readonly prepared: PreparedScenario,
    private readonly dispatcher: AppProcess,
    private readonly perFault: number,
  ) {}

  /** A fault the requests outlive: each must be sent, none may end before its expires_at. */
  async transient(name: string, fault: FaultOf): Promise<Figure[]> {
    const faults = fault(Math.ceil(this.perFault / 2));
    await this.ctx.peers.faults({ provider: 'both', clear: true, ...faults });
    const retryAfter = faults.failNext?.retryAfterSeconds;
    const outcome = await this.push(name, TRANSIENT_TTL_MS, (retryAfter ?? 0) * 1000);
    const { requests, results, producedAt, figures } = outcome;
    const early = requests.filter((request) => endedEarly(request, results.get(request.challenge_id)));
    figures.push({
      scenario: SCENARIO,
      name: `${name}: ended before expires_at`,
      value: early.length,
      expect: 'zero',
      note: 'a result other than sent while the request had time left',
    });
    if (retryAfter) figures.push(...(await this.retryAfterFigures(name, retryAfter, requests, producedAt)));
    return figures;
  }

  /** 503 for longer than the requests live: each must be reported expired, none lost. */
  async outlived(): Promise<Figure[]> {
    const name = '503 past expires_at';
    await this.ctx.peers.faults({
      provider: 'both',
      clear: true,
      failNext: { count: 1_000_000, status: 503, reason: 'ServiceUnavailable' },
    });
    const { requests, results, figures } = await this.push(name, OUTLIVED_TTL_MS);
    const notExpired = requests.filter((r) => results.get(r.challenge_id)?.status !== 'expired').length;
    figures.push({
      scenario: SCENARIO,
      name: `${name}: not reported expired`,
      value: notExpired,
      expect: 'zero',
    });
    return figures;
  }

  aliveFigure(): Figure {
    const value = this.dispatcher.exited ? 1 : 0;
    return { scenario: SCENARIO, name: 'dispatcher died', value, expect: 'zero' };
  }

  /**
   * Produces this fault's requests, waits for their results, clears the fault and accounts. Pushes
   * are counted `lingerMs` after producing at the earliest: an SDK still waiting out a Retry-After
   * may push after the result was published.
   */
  private async push(name: string, ttlMs: number, lingerMs = 0): Promise<FaultOutcome> {
    const requests = requestsFor(this.prepared.tenants, this.perFault, ['apns', 'fcm'], strategyOf, ttlMs);
    const retriesBefore = await this.retries();
    const producer = await new RequestProducer(this.ctx.kafka, this.prepared.topics.pushRequested).connect();
    await producer.sendAll(requests).finally(() => producer.close());
    this.produced += requests.length;
    const { pushResults } = this.prepared.topics;
    if (!(await waitForTopicSize(this.ctx.kafka, pushResults, this.produced, RESULTS_TIMEOUT_MS)))
      log(`${SCENARIO}: ${name}: not every request had a result within ${RESULTS_TIMEOUT_MS / 1000} s`);
    const firstProduced = Math.min(...producer.producedAt.values());
    await sleep(firstProduced + lingerMs + 1000 - Date.now());
    await this.ctx.peers.faults({ provider: 'both', clear: true });
    const accounting = await account(this.ctx.kafka, pushResults, this.ctx.peers, requests);
    const retries = (await this.retries()) - retriesBefore;
    const ours = requests.flatMap((r) => accounting.results.get(r.challenge_id) ?? []);
    const seconds = secondsBetween(firstProduced, lastCompletion(ours));
    log(`${SCENARIO}: ${name}: ${retries} dispatcher retries, last result ${seconds} s after producing`);
    const figures: Figure[] = [
      ...accountingFigures(SCENARIO, accounting, name),
      {
        scenario: SCENARIO,
        name: `${name}: dispatcher retries`,
        value: retries,
        note: 'besides the SDKs’ own',
      },
      { scenario: SCENARIO, name: `${name}: produce → last result`, value: seconds, unit: 's' },
    ];
    return { requests, results: accounting.results, producedAt: producer.producedAt, figures };
  }

  /**
   * Requests pushed sooner after they were produced than the Retry-After their first attempt was
   * answered with (the faults outnumber the requests, so every first attempt gets one), per provider:
   * Google asks senders to honour it; Apple documents none, and node-apn reads it under a header name
   * HTTP/2 never delivers (`Retry-After`, where HTTP/2 names are lower-case), so its own resends go at once.
   */
  private async retryAfterFigures(
    name: string,
    seconds: number,
    requests: PushRequestedEvent[],
    producedAt: Map<string, number>,
  ): Promise<Figure[]> {
    const pushes = await pushTimes(this.ctx.peers);
    const sooner = (provider: 'apns' | 'fcm') => {
      const ofProvider = requests.filter((request) => request.device.provider === provider);
      return ofProvider.filter(({ challenge_id }) => {
        const first = pushes.get(challenge_id)?.[0];
        return first !== undefined && first - producedAt.get(challenge_id)! < seconds * 1000;
      }).length;
    };
    const count = (provider: string) => requests.filter((r) => r.device.provider === provider).length;
    return [
      {
        scenario: SCENARIO,
        name: `${name}: FCM pushed sooner than Retry-After`,
        value: sooner('fcm'),
        expect: 'target-zero',
        note: `of ${count('fcm')}`,
      },
      {
        scenario: SCENARIO,
        name: `${name}: APNs pushed sooner than Retry-After`,
        value: sooner('apns'),
        note: `of ${count('apns')}; Apple documents no Retry-After, and node-apn does not read it`,
      },
    ];
  }

  private retries(): Promise<number> {
    return dispatcherMetric(this.dispatcher, 'mfa_push_retries_total');
  }
}

/** Ended (failed, expired, rejected) while it still had time to be sent. */
function endedEarly(request: PushRequestedEvent, result: PushResultEvent | undefined): boolean {
  if (!result || result.status === 'sent') return false;
  return Date.parse(result.completed_at) < Date.parse(request.expires_at);
}

/** The dispatcher's resident memory: at the start, its peak while sampling, and at the end. */
class RssSampler {
  private readonly before: number;
  private peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly app: AppProcess) {
    this.before = app.rssMiB();
    this.peak = this.before;
    this.timer = setInterval(() => this.sample(), RSS_SAMPLE_MS).unref();
  }

  stop(): Figure[] {
    clearInterval(this.timer);
    const after = this.sample();
    const figure = (name: string, value: number, note?: string): Figure => ({
      scenario: SCENARIO,
      name,
      value: Math.round(value),
      unit: 'MiB',
      ...(note && { note }),
    });
    return [
      figure('RSS before the faults', this.before, 'after an unfaulted warm-up'),
      figure('RSS peak during the faults', this.peak, `sampled every ${RSS_SAMPLE_MS} ms`),
      figure('RSS after the faults', after, '2 s after the last fault was cleared'),
      figure('RSS growth after the faults', after - this.before),
    ];
  }

  private sample(): number {
    // A process that died (or is dying) has no RSS; the figures say it died elsewhere.
    let rss = 0;
    try {
      if (!this.app.exited) rss = this.app.rssMiB() || 0;
    } catch {
      rss = 0;
    }
    this.peak = Math.max(this.peak, rss);
    return rss;
  }
}
