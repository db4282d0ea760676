import { PartitionWindow } from './partition-window';

/** A handler the test finishes by hand, per offset. */
function controlledHandlers() {
  const finishers = new Map<string, { ok: () => void; fail: (error: Error) => void }>();
  const handler = (offset: string) => () =>
    new Promise<void>((resolve, reject) => finishers.set(offset, { ok: resolve, fail: reject }));
  return { handler, finish: (offset: string) => finishers.get(offset)!, finishers };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('PartitionWindow', () => {
  it('commits only up to the first message not handled, whatever order they finish in', async () => {
    const window = new PartitionWindow('t', 0, 10, () => undefined);
    const { handler, finish } = controlledHandlers();
    for (const offset of ['5', '6', '7']) window.accept(offset, handler(offset));
    finish('7').ok();
    finish('6').ok();
    await flush();
    expect(window.takeCommittable()).toBeUndefined();
    expect(window.firstUnhandled).toBe('5');
    finish('5').ok();
    await flush();
    expect(window.takeCommittable()).toBe('8');
    window.committedAt('8');
    expect(window.takeCommittable()).toBeUndefined();
    expect(window.inFlight).toBe(0);
  });

  it('runs `limit` messages at a time, in offset order, and keeps the rest until a slot frees', async () => {
    const window = new PartitionWindow('t', 0, 2, () => undefined);
    const { handler, finish, finishers } = controlledHandlers();
    for (const offset of ['0', '1', '2', '3']) window.accept(offset, handler(offset));
    expect([...finishers.keys()]).toEqual(['0', '1']);
    expect(window.inFlight).toBe(2);
    finish('1').ok();
    await flush();
    expect([...finishers.keys()]).toEqual(['0', '1', '2']);
    expect(window.firstUnhandled).toBe('0');
    for (const offset of ['0', '2']) finish(offset).ok();
    await flush();
    finish('3').ok();
    await window.drained();
    expect(window.takeCommittable()).toBe('4');
  });

  it('gives back what waits for a slot: nothing after it is committed, and reading it again takes it', async () => {
    const window = new PartitionWindow('t', 0, 1, () => undefined);
    const { handler, finish, finishers } = controlledHandlers();
    for (const offset of ['0', '1', '2']) window.accept(offset, handler(offset));
    window.giveBackWaiting();
    finish('0').ok();
    await window.drained();
    expect([...finishers.keys()]).toEqual(['0']);
    expect(window.takeCommittable()).toBe('1');
    expect(window.accept('0', handler('0'))).toBe(false);
    expect(window.accept('1', handler('1'))).toBe(true);
    expect([...finishers.keys()]).toEqual(['0', '1']);
  });

  it('reports the first failure once and reads again from the first unhandled message', async () => {
    const failures: string[] = [];
    const window = new PartitionWindow('t', 3, 10, (failed) => failures.push(failed.failure!.offset));
    const { handler, finish } = controlledHandlers();
    for (const offset of ['0', '1', '2', '3']) window.accept(offset, handler(offset));
    finish('0').ok();
    finish('2').fail(new Error('broker down'));
    finish('3').fail(new Error('broker down'));
    await flush();
    expect(failures).toEqual(['2']);
    // 1 is still running: what comes again starts there, and 2 and 3 with it.
    expect(window.firstUnhandled).toBe('1');
    finish('1').ok();
    await window.drained();
    expect(window.firstUnhandled).toBe('2');
    expect(window.takeCommittable()).toBe('2');
  });

  it('starts nothing that waits once a message failed', async () => {
    const window = new PartitionWindow('t', 0, 1, () => undefined);
    const { handler, finish, finishers } = controlledHandlers();
    for (const offset of ['0', '1']) window.accept(offset, handler(offset));
    finish('0').fail(new Error('broker down'));
    await window.drained();
    expect([...finishers.keys()]).toEqual(['0']);
    expect(window.firstUnhandled).toBe('0');
  });

  it('takes a message it already has only once: kafkajs reads again from the last commit after a rejoin', async () => {
    const window = new PartitionWindow('t', 0, 10, () => undefined);
    const { handler, finish, finishers } = controlledHandlers();
    expect(window.accept('0', handler('0'))).toBe(true);
    expect(window.accept('1', handler('1'))).toBe(true);
    finishers.clear();
    expect(window.accept('0', handler('0'))).toBe(false);
    expect(window.accept('1', handler('1'))).toBe(false);
    expect(finishers.size).toBe(0);
    expect(window.accept('2', handler('2'))).toBe(true);
    finish('2').ok();
    await flush();
    expect(window.inFlight).toBe(2);
  });

  it('counts a handler that throws before its first await as failed, and frees its slot', async () => {
    const failures: string[] = [];
    const window = new PartitionWindow('t', 0, 1, (failed) => failures.push(failed.failure!.offset));
    window.accept('4', () => {
      throw new TypeError('a bug');
    });
    await window.drained();
    expect(failures).toEqual(['4']);
    expect(window.full).toBe(false);
  });

  it('takes no more once too many handled messages wait behind a slow first one', async () => {
    const window = new PartitionWindow('t', 0, 2, () => undefined);
    const { handler, finish } = controlledHandlers();
    window.accept('0', handler('0'));
    for (let offset = 1; offset < 32; offset++) {
      window.accept(String(offset), handler(String(offset)));
      finish(String(offset)).ok();
      await flush();
    }
    // 2 running at most, but 32 = 2 × 16 not committable behind offset 0.
    expect(window.inFlight).toBe(1);
    expect(window.full).toBe(true);
    expect(window.hasRoom).toBe(false);
    finish('0').ok();
    await flush();
    expect(window.full).toBe(false);
    expect(window.hasRoom).toBe(true);
    expect(window.takeCommittable()).toBe('32');
  });

  describe('a message waiting without its slot (a backoff)', () => {
    /** Offset 0 gives its slot up until `endWait`, then runs as the test's handler '0'. */
    function firstWaitsWithoutSlot(limit: number) {
      const failures: string[] = [];
      const window = new PartitionWindow('t', 0, limit, (failed) => failures.push(failed.failure!.offset));
      const handlers = controlledHandlers();
      let endWait!: { resolve: () => void; reject: (error: Error) => void };
      window.accept('0', async () => {
        await window.withoutSlot(
          () => new Promise<void>((resolve, reject) => (endWait = { resolve, reject })),
        );
        await handlers.handler('0')();
      });
      return { window, failures, ...handlers, endWait: () => endWait };
    }

    it('lets the next message start, and takes a slot back ahead of those still waiting for one', async () => {
      const { window, handler, finish, finishers, endWait } = firstWaitsWithoutSlot(1);
      for (const offset of ['1', '2']) window.accept(offset, handler(offset));
      await flush();
      expect([...finishers.keys()]).toEqual(['1']);
      expect(window.inFlight).toBe(2);
      endWait().resolve();
      await flush();
      // Done waiting, 0 needs a slot again: 1 holds the only one.
      expect([...finishers.keys()]).toEqual(['1']);
      finish('1').ok();
      await flush();
      expect([...finishers.keys()]).toEqual(['1', '0']);
      finish('0').ok();
      await flush();
      expect([...finishers.keys()]).toEqual(['1', '0', '2']);
      finish('2').ok();
      await window.drained();
      expect(window.takeCommittable()).toBe('3');
    });

    it('still holds back the commit of what follows it, and a drain waits for it', async () => {
      const { window, handler, finish, endWait } = firstWaitsWithoutSlot(1);
      window.accept('1', handler('1'));
      await flush();
      finish('1').ok();
      await flush();
      expect(window.takeCommittable()).toBeUndefined();
      expect(window.firstUnhandled).toBe('0');
      let drained = false;
      void window.drained().then(() => (drained = true));
      await flush();
      expect(drained).toBe(false);
      endWait().resolve();
      await flush();
      finish('0').ok();
      await flush();
      expect(drained).toBe(true);
      expect(window.takeCommittable()).toBe('2');
    });

    it('is not stranded waiting for its slot when the message holding it fails', async () => {
      const { window, failures, handler, finish, finishers, endWait } = firstWaitsWithoutSlot(1);
      for (const offset of ['1', '2']) window.accept(offset, handler(offset));
      await flush();
      endWait().resolve();
      await flush();
      finish('1').fail(new Error('broker down'));
      await flush();
      expect(failures).toEqual(['1']);
      // 0 goes on (it was started); 2 is read again after the failure, not started.
      expect([...finishers.keys()]).toEqual(['1', '0']);
      finish('0').ok();
      await window.drained();
      expect(window.firstUnhandled).toBe('1');
    });

    it('still runs `limit` at a time after a failure, those done waiting included', async () => {
      const window = new PartitionWindow('t', 0, 2, () => undefined);
      const { handler, finish, finishers } = controlledHandlers();
      const waits = new Map<string, () => void>();
      for (const offset of ['0', '1'])
        window.accept(offset, async () => {
          await window.withoutSlot(() => new Promise<void>((resolve) => waits.set(offset, resolve)));
          await handler(offset)();
        });
      for (const offset of ['2', '3']) window.accept(offset, handler(offset));
      await flush();
      finish('2').fail(new Error('broker down'));
      await flush();
      waits.get('0')!();
      waits.get('1')!();
      await flush();
      // 2's slot went to 0; 3 still holds the other one.
      expect([...finishers.keys()]).toEqual(['2', '3', '0']);
      finish('3').ok();
      await flush();
      expect([...finishers.keys()]).toEqual(['2', '3', '0', '1']);
      for (const offset of ['0', '1']) finish(offset).ok();
      await window.drained();
      expect(window.firstUnhandled).toBe('2');
    });

    it('fails its message when the wait throws (a lost partition), freeing what it held', async () => {
      const { window, failures, handler, finish, endWait } = firstWaitsWithoutSlot(1);
      window.accept('1', handler('1'));
      await flush();
      endWait().reject(new Error('handed over to another member'));
      await flush();
      expect(failures).toEqual(['0']);
      expect(window.inFlight).toBe(1);
      finish('1').ok();
      await window.drained();
      expect(window.inFlight).toBe(0);
    });
  });
});
