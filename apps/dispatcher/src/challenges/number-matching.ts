import { createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Keyring } from '@lib/crypto';

/**
 * The numbers a number-matching push offers: the code shown on the sign-in page and two decoys of its
 * length (or the caller's own numbers), in an order of our own, so the push never tells which is right.
 *
 * Drawn from the challenge under a dispatcher key, not afresh per send: a challenge sent again (a retry
 * after a reset connection that may have delivered, a redelivery after a crash, another replica) offers
 * the same numbers in the same order. Two draws for one challenge would share only the code, and show
 * it to whoever saw both pushes.
 */
@Injectable()
export class NumberMatching {
  private readonly key: Buffer;

  constructor(keyring: Keyring) {
    this.key = keyring.derive('number-matching');
  }

  /** A caller that always puts the code first would tell the user, or whoever keeps pushing, which is right. */
  offeredValues(challengeId: string, code: string, callerValues?: string[]): string[] {
    const draw = new ChallengeDraw(this.key, `${challengeId}\n${code}`);
    return shuffle(callerValues ? [...callerValues] : numberChoices(code, draw), draw);
  }
}

function numberChoices(code: string, draw: ChallengeDraw): string[] {
  const space = 10 ** code.length;
  const choices = new Set([code]);
  while (choices.size < 3) choices.add(String(draw.below(space)).padStart(code.length, '0'));
  return [...choices];
}

function shuffle<T>(items: T[], draw: ChallengeDraw): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = draw.below(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * Integers drawn from `seed` under `key`: HMAC-SHA256(key, seed + counter) read as 32-bit words, those
 * past the last whole multiple of the range left out, so every value is as likely as any other.
 */
class ChallengeDraw {
  private block = Buffer.alloc(0);
  private offset = 0;
  private counter = 0;

  constructor(
    private readonly key: Buffer,
    private readonly seed: string,
  ) {}

  /** An integer in [0, max), max at most 2^32. */
  below(max: number): number {
    const limit = Math.floor(2 ** 32 / max) * max;
    for (;;) {
      if (this.offset + 4 > this.block.length) {
        this.block = createHmac('sha256', this.key).update(`${this.seed}\n${this.counter++}`).digest();
        this.offset = 0;
      }
      const word = this.block.readUInt32BE(this.offset);
      this.offset += 4;
      if (word < limit) return word % max;
    }
  }
}
