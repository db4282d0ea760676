import { randomInt } from 'node:crypto';

/**
 * The three numbers a number-matching push offers: the code shown on the sign-in page and two
 * decoys of the same length, drawn with a CSPRNG and shuffled, so the push never tells which is right.
 */
export function numberChoices(code: string): string[] {
  const space = 10 ** code.length;
  const choices = new Set([code]);
  while (choices.size < 3) choices.add(String(randomInt(space)).padStart(code.length, '0'));
  return shuffle([...choices]);
}

/**
 * What the push offers: the caller's numbers when it sent them, in an order of our own (a caller that
 * always puts the code first would tell the user, or whoever keeps pushing, which one is right).
 */
export function offeredValues(code: string, callerValues?: string[]): string[] {
  return callerValues ? shuffle([...callerValues]) : numberChoices(code);
}

export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}
