import { SendSlots } from './send-slots';

describe('SendSlots', () => {
  it('gives out its size at once, the next turns in order as slots come back, and none after the wait', async () => {
    const slots = new SendSlots(2);
    const first = await slots.acquire(10);
    const second = await slots.acquire(10);
    const turns: string[] = [];
    const third = slots.acquire(1000).then((release) => (turns.push('third'), release));
    const fourth = slots.acquire(1000).then((release) => (turns.push('fourth'), release));
    const gaveUp = await slots.acquire(20);
    expect(gaveUp).toBeUndefined();
    first!();
    first!(); // twice: one slot back, not two
    expect(await third).toBeDefined();
    expect(turns).toEqual(['third']);
    second!();
    (await fourth)!();
    expect(turns).toEqual(['third', 'fourth']);
    expect(slots.busy).toBe(1);
  });
});
