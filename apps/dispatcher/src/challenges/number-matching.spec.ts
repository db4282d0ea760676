import { numberChoices, offeredValues } from './number-matching';

describe('numberChoices', () => {
  it.each(['7', '42', '007'])('offers the code %s and two distinct decoys of its length', (code) => {
    for (let run = 0; run < 200; run++) {
      const values = numberChoices(code);
      expect(values).toHaveLength(3);
      expect(new Set(values).size).toBe(3);
      expect(values).toContain(code);
      values.forEach((value) => expect(value).toMatch(new RegExp(`^[0-9]{${code.length}}$`)));
    }
  });

  it('does not always put the code in the same place', () => {
    const positions = new Set(Array.from({ length: 200 }, () => numberChoices('42').indexOf('42')));
    expect(positions).toEqual(new Set([0, 1, 2]));
  });
});

describe('offeredValues', () => {
  it('offers the caller’s numbers, but not in the caller’s order', () => {
    const sent = ['42', '17', '93'];
    const positions = new Set(Array.from({ length: 200 }, () => offeredValues('42', sent).indexOf('42')));
    expect(positions).toEqual(new Set([0, 1, 2]));
    expect(offeredValues('42', sent).sort()).toEqual(['17', '42', '93']);
    expect(sent).toEqual(['42', '17', '93']);
  });

  it('draws decoys when the caller sent none', () => {
    expect(offeredValues('7')).toContain('7');
  });
});
