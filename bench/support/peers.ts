import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';

export type PeerCommand =
  | { cmd: 'endpoints' }
  | {
      cmd: 'trust';
      apnsKeys: { keyId: string; teamId: string; publicPem: string }[];
      topics: { teamId: string; bundleId: string }[];
      serviceAccounts: { clientEmail: string; publicPem: string; projectId: string }[];
    }
  | ({ cmd: 'faults' } & PeerFaults)
  | { cmd: 'counts' }
  | { cmd: 'arrivals' }
  | { cmd: 'clear' };

/** Faults the peers inject (test/peers FaultPlan): applied to the APNs peer, the FCM peer or both. */
export interface PeerFaults {
  provider: 'apns' | 'fcm' | 'both';
  /** Drops earlier faults and the delay first. */
  clear?: boolean;
  /** Every answer waits this long (0 turns it off). */
  delayMs?: number;
  /** The next `count` requests are answered with this status (APNs reason / Google status). */
  failNext?: { count: number; status: number; reason: string; retryAfterSeconds?: number };
  /** The connections of the next `count` requests are reset instead of answered. */
  resets?: number;
}

export type PeerReply = { id: number; result?: unknown; error?: string };

export interface PeerEndpoints {
  apnsEndpoint: string;
  fcmUrl: string;
  caPem: string;
}

/** [challenge id, peer receive time (ms since epoch), APNs key id] */
export type Arrival = [string, number, string];

/** The load generator's handle on the peers process. */
export class PeersProcess {
  private nextId = 1;
  private exitedWith: string | undefined;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (e: Error) => void }
  >();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: PeerReply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.error) waiter.reject(new Error(`peers: ${reply.error}`));
      else waiter.resolve(reply.result);
    });
    // A peers process that dies fails every call waiting on it, and every later one, instead of
    // hanging the benchmark or crashing it on a write to a closed channel.
    child.on('exit', (code, signal) => {
      this.exitedWith = `the peers process exited (${signal ?? code})`;
      for (const waiter of this.pending.values()) waiter.reject(new Error(this.exitedWith));
      this.pending.clear();
    });
  }

  static async start(): Promise<PeersProcess> {
    const child = fork(join(__dirname, '..', 'peers-process.ts'), [], {
      execArgv: ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) =>
        reject(new Error(`the peers process exited (${code}) before it was ready`)),
      );
    });
    return new PeersProcess(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  call<T>(command: PeerCommand): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.exitedWith !== undefined) return reject(new Error(this.exitedWith));
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, command }, (error) => {
        if (!error || !this.pending.delete(id)) return;
        reject(new Error(`${this.exitedWith ?? 'the peers process is gone'}: ${error.message}`));
      });
    });
  }

  endpoints(): Promise<PeerEndpoints> {
    return this.call({ cmd: 'endpoints' });
  }

  faults(faults: PeerFaults): Promise<void> {
    return this.call({ cmd: 'faults', ...faults });
  }

  counts(): Promise<{ apns: number; fcm: number; sessions: number }> {
    return this.call({ cmd: 'counts' });
  }

  arrivals(): Promise<{ apns: Arrival[]; fcm: Arrival[] }> {
    return this.call({ cmd: 'arrivals' });
  }

  clear(): Promise<void> {
    return this.call({ cmd: 'clear' });
  }

  async waitForDelivered(total: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const counts = await this.counts();
      if (counts.apns + counts.fcm >= total) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  }

  stop(): void {
    // Disconnecting from a process that already died emits an error nothing would catch.
    if (this.child.connected) this.child.disconnect();
  }
}
