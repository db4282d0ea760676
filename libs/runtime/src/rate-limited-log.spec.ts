import { RateLimitedLog } from './rate-limited-log';

describe('RateLimitedLog', () => {
  it('writes a key once per interval, then says how many lines it left out', () => {
    const log = new RateLimitedLog(10_000);
    const lines: string[] = [];
    const write = (key: string, at: number) =>
      log.write(key, (leftOut) => lines.push(`${key}${RateLimitedLog.leftOutNote(leftOut)}`), at);
    for (let at = 0; at < 10_000; at += 100) write('apns', at);
    write('fcm', 500);
    write('apns', 10_000);
    write('apns', 10_001);
    expect(lines).toEqual(['apns', 'fcm', 'apns (and 99 more like it since the last such line, not logged)']);
  });

  it('remembers a bounded number of keys, the most recent', () => {
    const log = new RateLimitedLog(10_000, 2);
    let written = 0;
    for (const key of ['a', 'b', 'c', 'a']) log.write(key, () => written++, 0);
    // "a" was forgotten when "c" came, so it is written again.
    expect(written).toBe(4);
  });
});
