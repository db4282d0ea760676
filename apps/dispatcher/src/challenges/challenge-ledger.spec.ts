import type { PushResultEvent } from '@lib/contracts';
import { ChallengeLedger } from './challenge-ledger';

const result = (challengeId: string) => ({ challenge_id: challengeId, status: 'sent' }) as PushResultEvent;

describe('ChallengeLedger', () => {
  it('lets a redelivery wait for the running challenge and see how it ended', async () => {
    const ledger = new ChallengeLedger(10);
    ledger.begin('c1', 't/0@1');
    const running = ledger.get('c1');
    expect(running).toMatchObject({ state: 'running', position: 't/0@1' });
    ledger.finish('c1', 't/0@1', result('c1'), true);
    await (running as { done: Promise<void> }).done;
    expect(ledger.get('c1')).toEqual({ state: 'done', position: 't/0@1' });
  });

  it('keeps a result whose publication failed, and forgets an abandoned challenge', async () => {
    const ledger = new ChallengeLedger(10);
    ledger.begin('c1', 't/0@1');
    ledger.finish('c1', 't/0@1', result('c1'), false);
    expect(ledger.get('c1')).toMatchObject({ unpublished: { challenge_id: 'c1' } });
    ledger.begin('c2', 't/0@2');
    const running = ledger.get('c2') as { done: Promise<void> };
    ledger.abandon('c2');
    await running.done;
    expect(ledger.get('c2')).toBeUndefined();
  });

  it('learns results of other replicas, but never overrides a challenge running here', () => {
    const ledger = new ChallengeLedger(10);
    ledger.learn('elsewhere', 't/1@7');
    expect(ledger.get('elsewhere')).toEqual({ state: 'done', position: 't/1@7', resultSeen: true });
    ledger.begin('here', 't/0@1');
    ledger.learn('here', null);
    expect(ledger.get('here')?.state).toBe('running');
  });

  it('keeps nothing to publish again once the results topic showed the result, whatever a failed send said', () => {
    const ledger = new ChallengeLedger(10);
    // Its send writes one partition and keeps failing on another; the follower reads the written one.
    ledger.begin('c1', 't/0@1');
    ledger.learn('c1', 't/0@1');
    ledger.finish('c1', 't/0@1', result('c1'), false);
    expect(ledger.get('c1')).toEqual({ state: 'done', position: 't/0@1', resultSeen: true });
    // A result of another request reusing the id (or of none named) says nothing of this one's.
    ledger.begin('c3', 't/0@3');
    ledger.learn('c3', 't/1@9');
    ledger.learn('c3', null);
    ledger.finish('c3', 't/0@3', result('c3'), false);
    expect(ledger.get('c3')).toMatchObject({ state: 'done', unpublished: result('c3') });
    // Published again while the follower reads the first copy, and that publication fails.
    ledger.finish('c2', 't/0@2', result('c2'), false);
    ledger.learn('c2', 't/0@2');
    ledger.finish('c2', 't/0@2', result('c2'), false);
    expect(ledger.get('c2')).toEqual({ state: 'done', position: 't/0@2', resultSeen: true });
  });

  it('stays within its capacity, dropping the oldest finished entries, never running or unpublished ones', () => {
    const ledger = new ChallengeLedger(3);
    ledger.begin('running', 't/0@0');
    ledger.finish('unpublished', 't/0@1', result('unpublished'), false);
    for (let i = 0; i < 10; i++) ledger.learn(`c${i}`, `t/0@${i + 2}`);
    expect(ledger.size).toBe(3);
    expect(ledger.get('running')).toBeDefined();
    expect(ledger.get('unpublished')).toBeDefined();
    expect(ledger.get('c9')).toBeDefined();
    expect(ledger.get('c8')).toBeUndefined();
  });

  it('walks past the entries that hold work once, not on every new challenge id', () => {
    // Counts the steps of every Map iteration: the ledger's eviction is the only one in this loop.
    const mapIterator = Object.getPrototypeOf(new Map().entries()) as { next: () => unknown };
    const ledger = new ChallengeLedger(1000);
    for (let i = 0; i < 500; i++) ledger.begin(`running${i}`, `t/0@${i}`);
    for (let i = 0; i < 500; i++) ledger.learn(`old${i}`, `t/1@${i}`);
    const steps = jest.spyOn(mapIterator, 'next');
    try {
      for (let i = 0; i < 1000; i++) ledger.learn(`new${i}`, `t/2@${i}`);
      expect(steps.mock.calls.length).toBeLessThan(5 * 1000);
    } finally {
      steps.mockRestore();
    }
    expect(ledger.size).toBe(1000);
    for (let i = 0; i < 500; i++) expect(ledger.get(`running${i}`)?.state).toBe('running');
    expect(ledger.get('old499')).toBeUndefined();
    expect(ledger.get('new999')).toBeDefined();
  });

  it('keeps every entry when all of them hold work, past its capacity', () => {
    const ledger = new ChallengeLedger(2);
    for (let i = 0; i < 4; i++) ledger.begin(`running${i}`, `t/0@${i}`);
    expect(ledger.size).toBe(4);
  });

  it('knows a parked challenge: a redelivery waiting on it wakes, and its result, once learned, wins', async () => {
    const ledger = new ChallengeLedger(10);
    ledger.begin('c1', 't/0@1');
    const running = ledger.get('c1') as { done: Promise<void> };
    ledger.park('c1', 't/0@1');
    await running.done;
    expect(ledger.get('c1')).toEqual({ state: 'parked', position: 't/0@1' });
    ledger.learn('c1', 't/0@1');
    expect(ledger.get('c1')).toEqual({ state: 'done', position: 't/0@1', resultSeen: true });
  });

  it("learns other replicas' parked challenges, never over one it knows more of", () => {
    const ledger = new ChallengeLedger(10);
    ledger.learnParked('elsewhere', 't/1@7');
    expect(ledger.get('elsewhere')).toEqual({ state: 'parked', position: 't/1@7' });
    ledger.learn('answered', 't/1@8');
    ledger.learnParked('answered', 't/1@8');
    expect(ledger.get('answered')?.state).toBe('done');
    ledger.begin('here', 't/0@1');
    ledger.learnParked('here', 't/0@1');
    expect(ledger.get('here')?.state).toBe('running');
  });

  it('knows the newest copy of a parked challenge, from its own copies and those other replicas stored', () => {
    const ledger = new ChallengeLedger(10);
    const copy = (attempts: number) => ({
      position: 't/0@1',
      requestedAt: '0',
      attempts,
      lastFailure: '503',
    });
    ledger.park('c1', 't/0@1', copy(1));
    ledger.storeEnded('c1', true);
    expect([ledger.isNewestCopy('c1', 1), ledger.isNewestCopy('c1', 2)]).toEqual([true, true]);
    // Another replica's copy after two more attempts, read on mfa.push.retrying; an older one changes nothing.
    ledger.learnParked('c1', 't/0@1', 3);
    ledger.learnParked('c1', 't/0@1', 2);
    expect([ledger.isNewestCopy('c1', 2), ledger.isNewestCopy('c1', 3)]).toEqual([false, true]);
    // Unknown until then: learned with its attempts.
    ledger.learnParked('c2', 't/0@2', 4);
    expect(ledger.get('c2')).toEqual({ state: 'parked', position: 't/0@2', attempts: 4 });
  });

  it('keeps a challenge whose copies it learns at the back of its eviction order, as the owner keeps its own', () => {
    const ledger = new ChallengeLedger(4);
    ledger.learnParked('c1', 't/0@1', 1);
    ledger.learn('r1', 't/0@2');
    ledger.learn('r2', 't/0@3');
    ledger.learnParked('c1', 't/0@1', 5);
    ledger.learn('r3', 't/0@4');
    ledger.learn('r4', 't/0@5');
    expect([ledger.get('c1'), ledger.get('r1')]).toEqual([
      { state: 'parked', position: 't/0@1', attempts: 5 },
      undefined,
    ]);
    // A copy of another request that reused the id says nothing of this one.
    ledger.learnParked('c1', 't/0@9', 7);
    expect(ledger.isNewestCopy('c1', 5)).toBe(true);
  });

  it('keeps what it learned of newer copies through a run, whether the run is parked again or abandoned', () => {
    const ledger = new ChallengeLedger(10);
    const copy = { position: 't/0@1', requestedAt: '0', attempts: 1, lastFailure: '503' };
    ledger.park('c1', 't/0@1', copy);
    ledger.storeEnded('c1', true);
    ledger.begin('c1', 't/0@1', { copy: true, attempts: 1 });
    // Another owner (across a hand-over) parked the copy after two more attempts meanwhile.
    ledger.learnParked('c1', 't/0@1', 3);
    ledger.park('c1', 't/0@1', undefined, 1);
    expect(ledger.get('c1')).toEqual({ state: 'parked', position: 't/0@1', attempts: 3 });
    // A request's own run cut short, with a copy of it parked elsewhere meanwhile: that copy sees it through.
    ledger.begin('c2', 't/0@2');
    ledger.learnParked('c2', 't/0@2', 2);
    ledger.abandon('c2');
    expect(ledger.get('c2')).toEqual({ state: 'parked', position: 't/0@2', attempts: 2 });
    ledger.begin('c3', 't/0@3');
    ledger.abandon('c3');
    expect(ledger.get('c3')).toBeUndefined();
  });

  it('keeps a copy not known to be stored, and lets a result learned meanwhile stand', () => {
    const ledger = new ChallengeLedger(2);
    const copy = { position: 't/0@1', requestedAt: '0', attempts: 1, lastFailure: '503' };
    ledger.park('c1', 't/0@1', copy);
    for (let i = 0; i < 5; i++) ledger.learn(`other${i}`, `t/0@${i + 2}`);
    expect(ledger.get('c1')).toEqual({ state: 'parked', position: 't/0@1', unstored: copy, attempts: 1 });
    ledger.storeEnded('c1', true);
    expect(ledger.get('c1')).toEqual({ state: 'parked', position: 't/0@1', attempts: 1 });

    ledger.park('c2', 't/0@9', copy);
    // The copy was read and answered elsewhere before this replica heard its copy was stored.
    ledger.learn('c2', 't/0@9');
    ledger.storeEnded('c2', true);
    expect(ledger.get('c2')).toEqual({ state: 'done', position: 't/0@9', resultSeen: true });
  });

  it('wakes a redelivery waiting on the challenge only once the store of its copy ended', async () => {
    const ledger = new ChallengeLedger(10);
    ledger.begin('c1', 't/0@1');
    let woken = false;
    void (ledger.get('c1') as { done: Promise<void> }).done.then(() => (woken = true));
    ledger.park('c1', 't/0@1', { position: 't/0@1', requestedAt: '0', attempts: 1, lastFailure: '503' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toBe(false);
    ledger.storeEnded('c1', false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toBe(true);
    expect(ledger.get('c1')).toMatchObject({ state: 'parked', unstored: { attempts: 1 } });
  });

  it('does not end the run of a copy that took over while the store was under way', async () => {
    const ledger = new ChallengeLedger(10);
    ledger.begin('c1', 't/0@1');
    ledger.park('c1', 't/0@1', { position: 't/0@1', requestedAt: '0', attempts: 1, lastFailure: '503' });
    ledger.begin('c1', 't/0@1', { copy: true });
    let ended = false;
    void (ledger.get('c1') as { done: Promise<void> }).done.then(() => (ended = true));
    ledger.storeEnded('c1', true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ended).toBe(false);
    expect(ledger.get('c1')).toMatchObject({ state: 'running', copy: true });
  });
});
