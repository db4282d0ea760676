import { ChildProcess, execFile, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEnvironment } from './support/test-environment';

// The README's first command and `npm run demo`, exactly as a newcomer runs them (servers already up).
describe('npm run stack, then npm run demo', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'push-mfa-stack-'));
  const env = definedOnly({
    ...testEnvironment({
      PORT: '3210',
      DISPATCHER_PORT: '3211',
      SANDBOX_CONTROL_PORT: '3299',
      LOCAL_STATE_DIR: stateDir,
      // The stack's own defaults: dev auth and a generated keyring.
      MFA_ENCRYPTION_KEYS: undefined,
      LOG_LEVEL: 'info',
    }),
    NODE_OPTIONS: '',
  });
  let stack: ChildProcess;
  let output = '';

  beforeAll(async () => {
    stack = spawn('npm', ['run', 'stack'], { env, detached: true });
    stack.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    stack.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    for (let i = 0; i < 900 && !output.includes('[stack] still up'); i++)
      await new Promise((r) => setTimeout(r, 200));
    if (!output.includes('[stack] still up'))
      throw new Error(`the stack did not come up:\n${output.slice(-3000)}`);
  }, 200_000);

  it('shows itself working: the demo it runs once delivers both challenges', () => {
    expect(output).toContain('[stack] config-api  http://127.0.0.1:3210');
    expect(output).toContain('Demo OK: both challenges were delivered.');
  });

  it('npm run demo delivers a prompt and a number-matching challenge end to end, again', async () => {
    const demo = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('npm', ['run', '-s', 'demo'], { env, timeout: 90_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    // On a failure, the apps' own logs say why.
    if (demo.code !== 0) process.stderr.write(`${demo.stderr}\n${logTails(stateDir)}\n`);
    expect(demo.stderr).toBe('');
    expect(demo.code).toBe(0);
    expect(demo.stdout).toContain('"category": "MFA_PROMPT"');
    expect(demo.stdout).toContain('"click_action": "MFA_NUMBER_MATCH"');
    expect(demo.stdout).toContain('Demo OK: both challenges were delivered.');
    expect(demo.stdout).not.toMatch(/PRIVATE KEY|authorization/i);
  }, 120_000);

  it('stops everything it started on Ctrl-C', async () => {
    const exited = new Promise<void>((resolve) => stack.on('exit', () => resolve()));
    // Ctrl-C in a terminal signals the whole process group.
    process.kill(-stack.pid!, 'SIGINT');
    await exited;
    for (let i = 0; i < 50 && !output.includes('[stack] stopped'); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(output).toContain('[stack] stopped');
    for (const port of [3210, 3211, 3299]) expect(await listening(port)).toBe(false);
  }, 60_000);

  it('logged structured JSON lines with request ids, and no key material or token anywhere', () => {
    const lines = ['config-api', 'dispatcher']
      .flatMap((app) => readFileSync(join(stateDir, 'logs', `${app}.log`), 'utf8').split('\n'))
      .filter((line) => line.trim().length > 0);
    expect(lines.length).toBeGreaterThan(10);
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(
      records.every((record) => typeof record.level === 'string' && typeof record.time === 'string'),
    ).toBe(true);
    expect(records).toContainEqual(
      expect.objectContaining({ msg: 'request', route: '/mfa', status: 201, request_id: expect.any(String) }),
    );
    const everything = lines.join('\n');
    expect(everything).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY|MIG[A-Za-z0-9+/]{20}|MIIE[A-Za-z0-9+/]{20}/);
    expect(everything).not.toMatch(/eyJ[A-Za-z0-9_-]{5,}\.eyJ/);
    expect(everything).not.toMatch(/"authorization":"[^[]/i);
  });
});

/** A child's environment: a variable set to undefined would arrive as the string "undefined". */
function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

function logTails(stateDir: string): string {
  return ['config-api', 'dispatcher']
    .map((app) => {
      const lines = readFileSync(join(stateDir, 'logs', `${app}.log`), 'utf8')
        .trim()
        .split('\n');
      return `--- last lines of ${app}.log\n${lines.slice(-40).join('\n')}`;
    })
    .join('\n');
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
