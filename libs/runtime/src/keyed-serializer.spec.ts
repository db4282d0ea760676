import { KeyedSerializer } from './keyed-serializer';

describe('KeyedSerializer', () => {
  const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

  it('runs tasks of one key one at a time, in order, and other keys alongside', async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    const task = (name: string) => async () => {
      log.push(`${name} start`);
      await tick();
      log.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([
      serializer.run('a', task('a1')),
      serializer.run('a', task('a2')),
      serializer.run('b', task('b1')),
    ]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    expect(log.indexOf('a1 end')).toBeLessThan(log.indexOf('a2 start'));
    expect(log.indexOf('b1 start')).toBeLessThan(log.indexOf('a1 end'));
    expect(serializer.busyKeys).toBe(0);
  });

  it('goes on after a failed task, and reports the failure to its caller only', async () => {
    const serializer = new KeyedSerializer();
    const failed = serializer.run('a', () => Promise.reject(new Error('boom')));
    const next = serializer.run('a', async () => 'next');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
  });
});
