import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { AppConfig } from '@lib/config';
import { PartitionWindow } from '@lib/kafka/partition-window';
import { PartitionHandedOverError } from '@lib/kafka';
import { Keyring } from '@lib/crypto';
import type { PushResultEvent } from '@lib/contracts';
import { pushRequest } from '../../../../test/fixtures/push-request.builder';
import type { LiveClientRegistry } from '../config-sync/live-client-registry';
import { DispatcherMetrics } from '../metrics/dispatcher-metrics';
import type { PublishedResultsFollower } from '../results/published-results.follower';
import type { ResultPublisher } from '../results/result-publisher';
import type { SendOutcome } from '../senders/push-sender';
import { ChallengeLedger } from './challenge-ledger';
import { ChallengeService, IncomingPushRequest } from './challenge.service';
import { NumberMatching } from './number-matching';
import type { ParkedState } from './parked-request';

const FAILED: SendOutcome = {
  ok: false,
  reason: 'provider_error',
  retryable: true,
  detail: '500 InternalServerError',
};

/** A service whose provider answers with `outcomes` in turn, and whose publisher the test steers. */
function serviceSending(
  outcomes: (() => Promise<SendOutcome>)[],
  { parkRetries = true, sendTimeoutMs = 5000, longestCallMs = 60_000 } = {},
) {
  /** When each send was made. */
  const sends: number[] = [];
  const clients = {
    version: 1,
    enabled: true,
    config: { settings: { strategy: 'prompt', enabled_clients: ['web-login'] } },
    sender: () => ({
      longestCallMs,
      send: () => {
        sends.push(Date.now());
        return outcomes[Math.min(sends.length - 1, outcomes.length - 1)]();
      },
    }),
    use: <T>(send: () => Promise<T>) => send(),
  };
  const registry = { get: () => clients } as unknown as LiveClientRegistry;
  const parkedCopies: (ParkedState & { key: string })[] = [];
  let failStoring = 0;
  let failPublishing = 0;
  const results: PushResultEvent[] = [];
  const publisher = {
    publishParked: async (key: string, _value: Buffer, copy: ParkedState) => {
      if (failStoring-- > 0) throw new Error('broker unreachable');
      parkedCopies.push({ ...copy, key });
    },
    publishResult: async (result: PushResultEvent) => {
      if (failPublishing-- > 0) throw new Error('broker unreachable');
      results.push(result);
    },
  } as unknown as ResultPublisher;
  /** What reading the results topic up to now brings the ledger (a result written though its send failed). */
  const resultsTopic = { readToNow: () => undefined as void };
  const publishedResults = {
    resultsReadToNow: async () => {
      resultsTopic.readToNow();
      return true;
    },
  } as unknown as PublishedResultsFollower;
  const config = { dispatcher: { sendTimeoutMs, parkRetries } } as AppConfig;
  const ledger = new ChallengeLedger(100);
  const metrics = new DispatcherMetrics();
  const numberMatching = new NumberMatching(Keyring.parse(`k1:${randomBytes(32).toString('base64')}`));
  const service = new ChallengeService(
    config,
    registry,
    publisher,
    metrics,
    ledger,
    numberMatching,
    publishedResults,
  );
  return {
    service,
    clients,
    metrics,
    ledger,
    sends,
    parkedCopies,
    results,
    resultsTopic,
    failStoringNext: (n: number) => (failStoring = n),
    failPublishingNext: (n: number) => (failPublishing = n),
  };
}

const request = pushRequest();

/** Backoff draws `value` (0: no wait at all; near 1: the longest) until the test ends. */
const jitter = (value: number) => jest.spyOn(Math, 'random').mockReturnValue(value);
afterEach(() => jest.restoreAllMocks());
const message = (overrides: Partial<IncomingPushRequest> = {}): IncomingPushRequest => ({
  key: request.challenge_id,
  value: Buffer.from(JSON.stringify(request)),
  timestamp: String(Date.now()),
  topic: 'mfa.push.requested',
  partition: 0,
  offset: '7',
  heartbeat: async () => undefined,
  withoutSlot: (wait) => wait(),
  ...overrides,
});

/** A parked copy of the request, read at `offset` of mfa.push.retrying. */
const parkedCopy = (parked: Partial<ParkedState> = {}, offset = '3'): IncomingPushRequest =>
  message({
    topic: 'mfa.push.retrying',
    offset,
    parked: { position: 'mfa.push.requested/0@7', requestedAt: '0', attempts: 1, lastFailure: '', ...parked },
  });

/** A message's `withoutSlot` that records when each wait without the slot began and ended. */
function slotRecorder() {
  const waits: { from: number; to?: number }[] = [];
  const withoutSlot = async <T>(wait: () => Promise<T>): Promise<T> => {
    const made: { from: number; to?: number } = { from: Date.now() };
    waits.push(made);
    try {
      return await wait();
    } finally {
      made.to = Date.now();
    }
  };
  return { waits, withoutSlot };
}

/** A parked copy being handled, its send made and waiting for the answer the test gives. */
async function copyAwaitingItsAnswer() {
  let answer!: (outcome: SendOutcome) => void;
  const sending = serviceSending([() => new Promise((resolve) => (answer = resolve))]);
  jitter(0);
  const copy = parkedCopy();
  const running = sending.service.handle(copy);
  while (sending.sends.length === 0) await new Promise((resolve) => setImmediate(resolve));
  return { ...sending, copy, running, answer: (outcome: SendOutcome) => answer(outcome) };
}

describe('ChallengeService parking a failed challenge', () => {
  it('stores the copy again when the redelivered request finds it unstored, and never pushes afresh', async () => {
    const { service, ledger, sends, parkedCopies, failStoringNext } = serviceSending([async () => FAILED]);
    failStoringNext(1);
    await expect(service.handle(message())).rejects.toThrow('broker unreachable');
    expect(ledger.get(request.challenge_id)).toMatchObject({ state: 'parked', unstored: { attempts: 1 } });
    await service.handle(message());
    expect(sends).toHaveLength(1);
    expect(parkedCopies).toEqual([
      expect.objectContaining({ position: 'mfa.push.requested/0@7', attempts: 1 }),
    ]);
    expect(ledger.get(request.challenge_id)).toEqual({
      state: 'parked',
      position: 'mfa.push.requested/0@7',
      attempts: 1,
    });
  });

  it('keeps a copy whose run was cut short parked, so the redelivered request is not pushed', async () => {
    const { service, ledger, sends } = serviceSending([async () => ({ ok: true })]);
    jitter(0.99);
    const parked: ParkedState = {
      position: 'mfa.push.requested/0@7',
      requestedAt: String(Date.now()),
      attempts: 1,
      lastFailure: '500 InternalServerError',
    };
    // A rebalance during its backoff: the heartbeat fails, and the copy is left to the new owner.
    const cut = message({
      topic: 'mfa.push.retrying',
      offset: '3',
      parked,
      heartbeat: () => Promise.reject(new Error('rebalancing')),
    });
    await expect(service.handle(cut)).rejects.toThrow('rebalancing');
    expect(ledger.get(request.challenge_id)).toEqual({
      state: 'parked',
      position: parked.position,
      attempts: 1,
    });
    await service.handle(message());
    expect(sends).toHaveLength(0);
  });

  it('leaves a request whose first attempt failed after its partition went to the new owner, instead of parking it', async () => {
    const { service, ledger, sends, parkedCopies } = serviceSending([async () => FAILED]);
    const handedOver = message({
      heartbeat: () => Promise.reject(new PartitionHandedOverError('mfa.push.requested[0]@7')),
    });
    await expect(service.handle(handedOver)).rejects.toThrow('handed over');
    expect([sends.length, parkedCopies, ledger.get(request.challenge_id)]).toEqual([1, [], undefined]);
  });

  it('parks it all the same when the heartbeat fails in a rebalance that may leave the partition here', async () => {
    const { service, parkedCopies } = serviceSending([async () => FAILED]);
    const rebalancing = message({
      heartbeat: () =>
        Promise.reject(Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' })),
    });
    await service.handle(rebalancing);
    expect(parkedCopies).toEqual([
      expect.objectContaining({ position: 'mfa.push.requested/0@7', attempts: 1 }),
    ]);
  });

  it("ends a copy's retries, with no result of its own, once another replica published the request's result", async () => {
    const failsSoon = () => new Promise<SendOutcome>((resolve) => setTimeout(() => resolve(FAILED), 5));
    const { service, ledger, sends, results } = serviceSending([failsSoon]);
    jitter(0);
    const position = 'mfa.push.requested/0@7';
    const copy = parkedCopy();
    const running = service.handle(copy);
    while (sends.length === 0) await new Promise((resolve) => setImmediate(resolve));
    // The results topic brings a result of this very request, from the replica that held it before.
    ledger.learn(request.challenge_id, position);
    await running;
    expect([sends.length, results]).toEqual([1, []]);
    expect(ledger.get(request.challenge_id)).toEqual({ state: 'done', position, resultSeen: true });
    // The request itself, read again, is answered by what the ledger knows: not pushed.
    await service.handle(message());
    expect(sends).toHaveLength(1);
  });

  it("parks a copy again when its attempt fails, so it does not hold its partition's commits until it expires", async () => {
    const { service, ledger, metrics, sends, parkedCopies, results } = serviceSending([
      async () => FAILED,
      async () => ({ ok: true }),
    ]);
    jitter(0);
    const position = 'mfa.push.requested/0@7';
    const requestedAt = String(Date.now() - 60_000);
    const copy = parkedCopy({ requestedAt });
    // Its handling ends after one attempt: the offset of the copy can be committed.
    await service.handle(copy);
    expect([sends.length, results]).toEqual([1, []]);
    expect(parkedCopies).toEqual([
      expect.objectContaining({ key: request.challenge_id, position, requestedAt, attempts: 2 }),
    ]);
    expect(ledger.get(request.challenge_id)).toEqual({ state: 'parked', position, attempts: 2 });
    // The request itself, read again meanwhile, is not pushed: its copy sees it through.
    await service.handle(message());
    expect(sends).toHaveLength(1);
    // The new copy, read from the end of mfa.push.retrying, makes the next attempt.
    await service.handle(parkedCopy({ ...parkedCopies[0], lastFailure: '' }, '9'));
    expect(sends).toHaveLength(2);
    // mfa_push_parked_total counts requests handed over, not a copy handed over again.
    expect((await metrics.parked.get()).values).toEqual([]);
    expect(results).toEqual([
      expect.objectContaining({
        status: 'sent',
        attempts: 3,
        requested_at: new Date(Number(requestedAt)).toISOString(),
      }),
    ]);
  });

  it('drops a copy read again after it parked the next one, instead of starting a second chain of copies', async () => {
    const { service, sends, parkedCopies, results, failStoringNext } = serviceSending([
      async () => FAILED,
      async () => FAILED,
      async () => ({ ok: true }),
    ]);
    jitter(0);
    const first = parkedCopy();
    await service.handle(first);
    // Read again (its partition sought back after another message failed, or a rebalance).
    await service.handle(first);
    expect([sends.length, parkedCopies.length]).toEqual([1, 1]);
    // Likewise while the next copy's store failed: the read-again one stores that copy, not its own.
    failStoringNext(1);
    const second = parkedCopy(parkedCopies[0], '9');
    await expect(service.handle(second)).rejects.toThrow('broker unreachable');
    await service.handle(second);
    await service.handle(first);
    expect(sends).toHaveLength(2);
    expect(parkedCopies.map((copy) => copy.attempts)).toEqual([2, 3]);
    // The newest copy sees the challenge through; the older ones, read after it, find it done.
    await service.handle(parkedCopy(parkedCopies[1], '12'));
    await service.handle(second);
    expect(sends).toHaveLength(3);
    expect(results).toEqual([expect.objectContaining({ status: 'sent', attempts: 4 })]);
  });

  it('holds a copy read again while its first reading still runs, and pushes it once', async () => {
    const { service, metrics, sends, results, copy, running, answer } = await copyAwaitingItsAnswer();
    // Done at once, its offset could be committed while the first run may still fail and leave it.
    let again = false;
    const readAgain = service.handle(copy).then(() => (again = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(again).toBe(false);
    answer({ ok: true });
    await Promise.all([running, readAgain]);
    expect([sends.length, results.map((result) => result.status)]).toEqual([1, ['sent']]);
    // One redelivery, though it was looked at again once the first reading ended.
    expect((await metrics.redeliveries.get()).values[0].value).toBe(1);
  });

  // A stop while a call that outlived its timeout may still deliver: right after the timeout, or during
  // the longest backoff before the next attempt (the call answering later).
  it.each([
    ['right after its timeout', 0, 300],
    ['during the backoff before its next attempt', 0.99, 1500],
  ])(
    'sees a call that outlived its timeout through when the replica stops %s, instead of leaving it to be pushed again',
    async (_when, backoff, answersAfterMs) => {
      const { service, sends, results } = serviceSending(
        [() => new Promise((resolve) => setTimeout(() => resolve({ ok: true }), answersAfterMs))],
        { sendTimeoutMs: 50, longestCallMs: 5000 },
      );
      jitter(backoff);
      const handling = service.handle(message());
      await new Promise((resolve) => setTimeout(resolve, 100));
      service.stopRetrying();
      await handling;
      expect([sends.length, results.map((result) => result.status)]).toEqual([1, ['sent']]);
    },
  );

  it('does not hold the redelivered request while its copy is retried here', async () => {
    const { service, sends, running, answer } = await copyAwaitingItsAnswer();
    await service.handle(message());
    answer({ ok: true });
    await running;
    expect(sends).toHaveLength(1);
  });

  it('retries in place with DISPATCHER_PARK_RETRIES=false, as replicas without the topic do', async () => {
    const { service, sends, parkedCopies } = serviceSending(
      [async () => FAILED, async () => ({ ok: true })],
      {
        parkRetries: false,
      },
    );
    await service.handle(message());
    expect(sends).toHaveLength(2);
    expect(parkedCopies).toEqual([]);
  });

  it('keys the copy by the challenge id, whatever the request was keyed by', async () => {
    const { service, parkedCopies } = serviceSending([async () => FAILED]);
    await service.handle(message({ key: 'user-42' }));
    expect(parkedCopies.map((copy) => copy.key)).toEqual([request.challenge_id]);
  });

  it('answers a challenge whose copy was never stored once it expired, instead of storing it forever', async () => {
    const { service, ledger, sends, parkedCopies, results, failStoringNext } = serviceSending([
      async () => FAILED,
    ]);
    const soon = pushRequest({ expires_at: new Date(Date.now() + 300).toISOString() });
    const original = message({ key: soon.challenge_id, value: Buffer.from(JSON.stringify(soon)) });
    failStoringNext(1);
    await expect(service.handle(original)).rejects.toThrow('broker unreachable');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await service.handle(original);
    expect(sends).toHaveLength(1);
    expect(parkedCopies).toEqual([]);
    expect(results).toEqual([
      expect.objectContaining({
        status: 'expired',
        reason: 'expired_while_retrying: 500 InternalServerError',
        attempts: 1,
      }),
    ]);
    expect(ledger.get(soon.challenge_id)?.state).toBe('done');
  });

  it("parks with the provider's Retry-After, and the copy waits for it before its next attempt", async () => {
    const throttled = async (): Promise<SendOutcome> => ({ ...FAILED, retryAt: Date.now() + 300 });
    const first = serviceSending([throttled]);
    await first.service.handle(message());
    const parked = first.parkedCopies[0];
    expect(parked.retryAt! - first.sends[0]).toBeGreaterThanOrEqual(300);

    const { service, sends, results } = serviceSending([async () => ({ ok: true })]);
    jitter(0);
    const copyRead = Date.now();
    const retryAt = copyRead + 300;
    const slot = slotRecorder();
    await service.handle(
      message({
        topic: 'mfa.push.retrying',
        offset: '3',
        parked: { ...parked, retryAt },
        withoutSlot: slot.withoutSlot,
      }),
    );
    expect(sends).toHaveLength(1);
    expect(sends[0]).toBeGreaterThanOrEqual(retryAt);
    // The copy waited without its slot, so the copies behind it could start meanwhile.
    expect(slot.waits).toHaveLength(1);
    expect(slot.waits[0].from).toBeLessThan(retryAt);
    expect(slot.waits[0].to).toBeGreaterThanOrEqual(retryAt);
    expect(slot.waits[0].to).toBeLessThanOrEqual(sends[0]);
    expect(results).toEqual([expect.objectContaining({ status: 'sent', attempts: 2 })]);
  });
});

describe('ChallengeService publishing a result again', () => {
  it('publishes it on the redelivery when the results topic does not hold it, and never pushes again', async () => {
    const { service, ledger, sends, results, failPublishingNext } = serviceSending([
      async () => ({ ok: true }),
    ]);
    failPublishingNext(1);
    await expect(service.handle(message())).rejects.toThrow('broker unreachable');
    expect(ledger.get(request.challenge_id)).toMatchObject({
      state: 'done',
      unpublished: { status: 'sent' },
    });
    await service.handle(message());
    expect(sends).toHaveLength(1);
    expect(results).toEqual([expect.objectContaining({ status: 'sent' })]);
  });

  it('does not publish it again when its failed send was written all the same (the results topic holds it)', async () => {
    const { service, ledger, sends, results, resultsTopic, failPublishingNext } = serviceSending([
      async () => ({ ok: true }),
    ]);
    failPublishingNext(1);
    await expect(service.handle(message())).rejects.toThrow('broker unreachable');
    // The follower reads the copy the broker kept though the send failed.
    resultsTopic.readToNow = () => ledger.learn(request.challenge_id, 'mfa.push.requested/0@7');
    await service.handle(message());
    expect(sends).toHaveLength(1);
    expect(results).toEqual([]);
    expect(ledger.get(request.challenge_id)).toEqual({
      state: 'done',
      position: 'mfa.push.requested/0@7',
      resultSeen: true,
    });
  });
});

describe('ChallengeService on a partition of one slot', () => {
  it('sees a copy stored twice through: the second waits for the first without the slot the first needs back', async () => {
    const { service, sends, results } = serviceSending([async () => ({ ok: true })]);
    jitter(0);
    const window = new PartitionWindow('mfa.push.retrying', 0, 1, () => undefined);
    const parked: ParkedState = {
      position: 'mfa.push.requested/0@7',
      requestedAt: String(Date.now()),
      attempts: 1,
      lastFailure: '500 InternalServerError',
      retryAt: Date.now() + 200,
    };
    const handled: Promise<void>[] = [];
    for (const offset of ['3', '4'])
      window.accept(offset, () => {
        const handling = service.handle(
          message({
            topic: 'mfa.push.retrying',
            offset,
            parked,
            withoutSlot: (wait) => window.withoutSlot(wait),
          }),
        );
        handled.push(handling);
        return handling;
      });
    await window.drained();
    await Promise.all(handled);
    expect(sends).toHaveLength(1);
    expect(results).toEqual([expect.objectContaining({ status: 'sent', attempts: 2 })]);
    expect(window.takeCommittable()).toBe('5');
  });
});

describe('ChallengeService retrying in place', () => {
  it("waits for the provider's Retry-After, not just the backoff", async () => {
    let retryAt = 0;
    const { service, sends } = serviceSending(
      [async () => ({ ...FAILED, retryAt: (retryAt = Date.now() + 300) }), async () => ({ ok: true })],
      { parkRetries: false },
    );
    jitter(0);
    const slot = slotRecorder();
    await service.handle(message({ withoutSlot: slot.withoutSlot }));
    expect(sends).toHaveLength(2);
    expect(sends[1] - sends[0]).toBeGreaterThanOrEqual(300);
    // Waiting, it held no slot of the partition; sending, it did.
    expect(slot.waits).toHaveLength(1);
    expect(slot.waits[0].from).toBeGreaterThanOrEqual(sends[0]);
    expect(slot.waits[0].to).toBeGreaterThanOrEqual(retryAt);
    expect(slot.waits[0].to).toBeLessThanOrEqual(sends[1]);
  });

  it('answers at once when the provider asks to wait past the expiry, instead of holding a slot until then', async () => {
    const { service, sends, parkedCopies, results } = serviceSending([
      async () => ({
        ...FAILED,
        detail: '429 QUOTA_EXCEEDED',
        retryAt: Date.parse(request.expires_at) + 1000,
      }),
    ]);
    await service.handle(message());
    expect(sends).toHaveLength(1);
    expect(parkedCopies).toEqual([]);
    expect(results).toEqual([
      expect.objectContaining({
        status: 'failed',
        reason: 'provider_throttled',
        retryable: true,
        attempts: 1,
        detail: expect.stringMatching(/^429 QUOTA_EXCEEDED; no attempt before .*, after expires_at$/),
      }),
    ]);
  });

  /** A send the provider answers `ok` after `ms`, past the test's 50 ms send timeout. */
  const answeredAfter = (ms: number, outcome: SendOutcome) => () =>
    new Promise<SendOutcome>((resolve) => setTimeout(() => resolve(outcome), ms));

  it('answers sent, not rejected, when a call that outlived its timeout delivers after the admin disabled MFA', async () => {
    const { service, clients, sends, results } = serviceSending(
      [answeredAfter(300, { ok: true, providerMessageId: 'late' })],
      { parkRetries: false, sendTimeoutMs: 50 },
    );
    jitter(0);
    const handling = service.handle(message());
    while (sends.length === 0) await new Promise((resolve) => setImmediate(resolve));
    clients.enabled = false;
    await handling;
    expect(sends).toHaveLength(1);
    expect(results).toEqual([
      expect.objectContaining({ status: 'sent', attempts: 1, provider_message_id: 'late' }),
    ]);
  });

  it('answers sent, not expired, when a call made before the expiry delivers after it', async () => {
    const expiring = pushRequest({ expires_at: new Date(Date.now() + 150).toISOString() });
    const { service, sends, results } = serviceSending(
      [answeredAfter(400, { ok: true, providerMessageId: 'late' })],
      { parkRetries: false, sendTimeoutMs: 50 },
    );
    jitter(0);
    await service.handle(
      message({ key: expiring.challenge_id, value: Buffer.from(JSON.stringify(expiring)) }),
    );
    expect(sends).toHaveLength(1);
    expect(results).toEqual([expect.objectContaining({ status: 'sent', provider_message_id: 'late' })]);
  });

  it("does not wait for ever on a call that never settles: past the sender's longest call it expires", async () => {
    const expiring = pushRequest({ expires_at: new Date(Date.now() + 100).toISOString() });
    const { service, sends, results } = serviceSending([() => new Promise<SendOutcome>(() => undefined)], {
      parkRetries: false,
      sendTimeoutMs: 50,
      longestCallMs: 400,
    });
    const startedAt = Date.now();
    await service.handle(
      message({ key: expiring.challenge_id, value: Buffer.from(JSON.stringify(expiring)) }),
    );
    // Waited for it until its sender's worst case, not for ever and not only to the expiry.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(390);
    expect(sends).toHaveLength(1);
    expect(results).toEqual([
      expect.objectContaining({ status: 'expired', reason: 'expired_while_retrying: send timed out' }),
    ]);
  });

  it('leaves a long wait for another replica at shutdown, instead of outliving the shutdown grace', async () => {
    const { service, ledger, sends } = serviceSending(
      [async () => ({ ...FAILED, retryAt: Date.now() + 20_000 }), async () => ({ ok: true })],
      { parkRetries: false },
    );
    const handling = service.handle(message());
    while (sends.length === 0) await new Promise((resolve) => setImmediate(resolve));
    service.stopRetrying();
    await expect(handling).rejects.toThrow('shutting down');
    expect(sends).toHaveLength(1);
    // Nothing is under way: the redelivery at the next owner pushes it.
    expect(ledger.get(request.challenge_id)).toBeUndefined();
  });
});

describe('ChallengeService while a provider fails', () => {
  it('logs the failed attempts of many challenges once in a while, and counts every retry made', async () => {
    const failTwiceThenSend = [
      async () => FAILED,
      async () => FAILED,
      async () => ({ ok: true }) as SendOutcome,
    ];
    const { service, metrics, sends } = serviceSending(Array(20).fill(failTwiceThenSend).flat(), {
      parkRetries: false,
    });
    jitter(0);
    const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    // One at a time, each failing twice before it goes through (the provider answers in turn).
    for (let i = 0; i < 20; i++) {
      const each = pushRequest();
      await service.handle(message({ key: each.challenge_id, value: Buffer.from(JSON.stringify(each)) }));
    }
    expect(sends.length).toBe(60);
    const retryLines = warnings.mock.calls.filter(([line]) => /failed .*retrying in/.test(String(line)));
    expect(retryLines).toHaveLength(1);
    expect((await metrics.retries.get()).values).toEqual([
      expect.objectContaining({ labels: { provider: 'apns' }, value: 40 }),
    ]);
  });

  it('still logs a new kind of failure at once, amid a flood of another', async () => {
    const failing = (detail: string) => async (): Promise<SendOutcome> => ({ ...FAILED, detail });
    const { service } = serviceSending([
      failing('503 ServiceUnavailable'),
      failing('503 ServiceUnavailable'),
      failing('403 SomethingNew'),
    ]);
    jitter(0);
    const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    for (let i = 0; i < 3; i++) {
      const each = pushRequest({ expires_at: new Date(Date.now() + 200).toISOString() });
      await service.handle(message({ key: each.challenge_id, value: Buffer.from(JSON.stringify(each)) }));
    }
    const parkedLines = warnings.mock.calls
      .map(([line]) => String(line))
      .filter((line) => /retrying it from/.test(line));
    expect(parkedLines).toEqual([
      expect.stringContaining('503 ServiceUnavailable'),
      expect.stringContaining('403 SomethingNew'),
    ]);
  });

  it('counts a retry when its call is made: none when a request is parked, one when its copy tries again', async () => {
    const { service, metrics, parkedCopies } = serviceSending([
      async () => FAILED,
      async () => ({ ok: true }),
    ]);
    jitter(0);
    await service.handle(message());
    expect((await metrics.retries.get()).values).toEqual([]);
    await service.handle(parkedCopy(parkedCopies[0], '9'));
    expect((await metrics.retries.get()).values).toEqual([expect.objectContaining({ value: 1 })]);
  });
});
