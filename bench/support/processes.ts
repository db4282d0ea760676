import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const CLOCK_TICKS_PER_SECOND = 100;

/** One of the apps, run from its production build (`npm run build`) in its own process. */
export class AppProcess {
  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly port: number,
    readonly startedAt: number,
  ) {}

  static async start(
    app: 'dispatcher' | 'config-api',
    env: Record<string, string>,
    port: number,
    logDir: string,
    extraNodeArgs: string[] = [],
  ): Promise<AppProcess> {
    mkdirSync(logDir, { recursive: true });
    const log = createWriteStream(join(logDir, `${app}-${port}.log`));
    const child = spawn(process.execPath, [...extraNodeArgs, join('dist', 'apps', app, 'src', 'main.js')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Both into one file, ended once both are: ending it with stdout would fail stderr's last lines.
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    child.on('close', () => log.end());
    const started = new AppProcess(app, child, port, Date.now());
    try {
      await started.waitUntilReady(60_000);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    return started;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Polls /health/ready: for the dispatcher, every configuration loaded and Kafka and the store reachable. */
  async waitUntilReady(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null)
        throw new Error(`${this.name} exited with ${this.child.exitCode}; see its log`);
      try {
        const response = await fetch(`http://127.0.0.1:${this.port}/health/ready`);
        if (response.ok) return Date.now() - this.startedAt;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`${this.name} was not ready within ${timeoutMs} ms; see its log`);
  }

  /** Resident memory, in MiB. */
  rssMiB(): number {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
  }

  /** CPU time used so far (user + system), in seconds. */
  cpuSeconds(): number {
    return processCpuSeconds(this.pid);
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Kills it with SIGKILL (a crash: nothing is flushed or closed) and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

export function processCpuSeconds(pid: number): number {
  // The command name may hold spaces; the fields after its closing parenthesis do not.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** A port free right now: two runs (or a run and a test) on one machine never collide on a fixed one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
