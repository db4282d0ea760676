import { readiness } from './readiness';

describe('readiness', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('answers as soon as the checks that decide it did, naming a slow other one down', async () => {
    const answer = readiness({ mongo: async () => 'pong', kafka: () => new Promise(() => undefined) }, [
      'mongo',
    ]);
    // Well before the two seconds a deciding check gets: an orchestrator's probe waits 1 s by default.
    await jest.advanceTimersByTimeAsync(300);
    await expect(answer).resolves.toEqual({ ready: true, checks: { mongo: 'up', kafka: 'down' } });
  });

  it('is red when a deciding check is down, however the others are', async () => {
    const answer = readiness({ mongo: () => Promise.reject(new Error('down')), kafka: async () => 'up' }, [
      'mongo',
    ]);
    await jest.advanceTimersByTimeAsync(0);
    await expect(answer).resolves.toEqual({ ready: false, checks: { mongo: 'down', kafka: 'up' } });
  });
});
