import { randomBytes, randomUUID } from 'node:crypto';
import { Keyring } from '@lib/crypto';
import { NumberMatching } from './number-matching';

const keyring = () => Keyring.parse(`k1:${randomBytes(32).toString('base64')}`);
const offered = new NumberMatching(keyring());

describe('NumberMatching', () => {
  it.each(['7', '42', '007'])('offers the code %s and two distinct decoys of its length', (code) => {
    for (let run = 0; run < 200; run++) {
      const values = offered.offeredValues(randomUUID(), code);
      expect(values).toHaveLength(3);
      expect(new Set(values).size).toBe(3);
      expect(values).toContain(code);
      values.forEach((value) => expect(value).toMatch(new RegExp(`^[0-9]{${code.length}}$`)));
    }
  });

  it('offers the same numbers in the same order every time a challenge is sent, on every replica', () => {
    const shared = keyring();
    const challenge = randomUUID();
    const first = new NumberMatching(shared).offeredValues(challenge, '42');
    expect(new NumberMatching(shared).offeredValues(challenge, '42')).toEqual(first);
    expect(offered.offeredValues(challenge, '42')).toEqual(offered.offeredValues(challenge, '42'));
  });

  it('draws other decoys for other challenges, and under another key', () => {
    const decoys = (matching: NumberMatching, challenge: string) =>
      matching.offeredValues(challenge, '42').filter((value) => value !== '42');
    const draws = new Set(Array.from({ length: 50 }, () => decoys(offered, randomUUID()).join()));
    expect(draws.size).toBeGreaterThan(45);
    const challenge = randomUUID();
    const underOtherKeys = new Set(
      Array.from({ length: 20 }, () => decoys(new NumberMatching(keyring()), challenge).join()),
    );
    expect(underOtherKeys.size).toBeGreaterThan(15);
  });

  it('does not always put the code in the same place', () => {
    const positions = new Set(
      Array.from({ length: 200 }, () => offered.offeredValues(randomUUID(), '42').indexOf('42')),
    );
    expect(positions).toEqual(new Set([0, 1, 2]));
  });

  it('offers the caller’s numbers, not in the caller’s order, and the same order on every send', () => {
    const sent = ['42', '17', '93'];
    const positions = new Set(
      Array.from({ length: 200 }, () => offered.offeredValues(randomUUID(), '42', sent).indexOf('42')),
    );
    expect(positions).toEqual(new Set([0, 1, 2]));
    const challenge = randomUUID();
    const once = offered.offeredValues(challenge, '42', sent);
    expect([...once].sort()).toEqual(['17', '42', '93']);
    expect(offered.offeredValues(challenge, '42', sent)).toEqual(once);
    expect(sent).toEqual(['42', '17', '93']);
  });
});
