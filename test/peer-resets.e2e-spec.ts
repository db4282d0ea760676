import { fork } from 'node:child_process';
import { join } from 'node:path';

describe('the test peers resetting connections', () => {
  it('survive hundreds of resets with requests in flight (an unsafe reset aborts the process)', async () => {
    const child = fork(join(__dirname, 'peers', 'reset-stress.ts'), [], {
      execArgv: ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
    );

    expect({ code, signal, output }).toMatchObject({ code: 0, signal: null });
    expect(JSON.parse(output.trim()).resets).toBeGreaterThanOrEqual(300);
  }, 60_000);
});
