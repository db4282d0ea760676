import { spawn } from 'node:child_process';
import { join } from 'node:path';

const FIXTURE = join(__dirname, '../../../test/fixtures/run-app.fixture.ts');

/** The fixture in a process of its own; `signals` are sent once it printed the marker each waits for. */
async function run(
  env: Record<string, string>,
  signals: { after: string; signal: NodeJS.Signals; delayMs?: number }[],
): Promise<{ code: number | null; output: string }> {
  const child = spawn('node', ['-r', 'ts-node/register/transpile-only', FIXTURE], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const pending = [...signals];
  const onOutput = (chunk: Buffer) => {
    output += chunk.toString();
    while (pending.length > 0 && output.includes(pending[0].after)) {
      const { signal, delayMs = 0 } = pending.shift()!;
      setTimeout(() => child.kill(signal), delayMs);
    }
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

describe('runApp', () => {
  it('stops an app signalled during its start-up once it has started, and exits 0', async () => {
    const { code, output } = await run({ START_MS: '1000' }, [{ after: 'STARTING', signal: 'SIGTERM' }]);
    expect(output).toMatch(/SIGTERM during start-up[\s\S]*STARTED[\s\S]*CLOSED/);
    expect(code).toBe(0);
  }, 30_000);

  it('logs an uncaught exception through the logger, not with every field of it as Node would, and exits 1', async () => {
    const { code, output } = await run({ THROW_AFTER_START: '1' }, []);
    expect(output).toContain('uncaught exception: Error: boom');
    expect(output).not.toContain('MIGsecret');
    expect(code).toBe(1);
    // Anything can be thrown.
    const thrownNull = await run({ THROW_AFTER_START: 'null' }, []);
    expect([thrownNull.code, thrownNull.output]).toEqual([
      1,
      expect.stringContaining('uncaught exception: null'),
    ]);
  }, 30_000);

  it('exits 1 when a start-up it was asked to stop outlasts the grace period', async () => {
    const { code, output } = await run({ START_MS: '-1', GRACE_MS: '500' }, [
      { after: 'STARTING', signal: 'SIGTERM' },
    ]);
    expect(output).toContain('start-up and shutdown did not finish within 500 ms');
    expect(output).not.toContain('STARTED');
    expect(code).toBe(1);
  }, 30_000);

  it('takes the same signal twice in a row (a Ctrl-C npm passes on) as one request, and finishes closing', async () => {
    const { code, output } = await run({ CLOSE_MS: '500' }, [
      { after: 'STARTED', signal: 'SIGINT' },
      { after: 'STARTED', signal: 'SIGINT', delayMs: 50 },
    ]);
    expect(output).toContain('CLOSED');
    expect(code).toBe(0);
  }, 30_000);

  it('stops at once on the same signal again later (an impatient Ctrl-C), with 1', async () => {
    const { code, output } = await run({ CLOSE_MS: '20000' }, [
      { after: 'STARTED', signal: 'SIGINT' },
      { after: 'finishing in-flight work', signal: 'SIGINT', delayMs: 2500 },
    ]);
    expect(output).not.toContain('CLOSED');
    expect(code).toBe(1);
  }, 30_000);
});
