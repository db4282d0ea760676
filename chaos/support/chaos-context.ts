import { execFileSync } from 'node:child_process';
import { BenchContext } from '../../bench/support/context';
import { PeersProcess } from '../../bench/support/peers';
import { kafkaIsOurs, mongoIsOurs } from '../../test/support/local-servers';

/** The sizes of a run: the full figures, or a reduced pass for CI. */
export interface ChaosSize {
  reduced: boolean;
  /** Push requests in flight during the broker restart and the dispatcher kills. */
  inFlight: number;
  /** How long Kafka stays down. */
  brokerDownSeconds: number;
  /** Requests per peer fault (slow, flapping, 429, 5xx). */
  perPeerFault: number;
  /** Generated bodies per fuzzed route. */
  fuzzRuns: number;
  /** Configuration changes made while Kafka is down. */
  configChanges: number;
}

export const FULL: ChaosSize = {
  reduced: false,
  inFlight: 10_000,
  brokerDownSeconds: 10,
  perPeerFault: 500,
  fuzzRuns: 3000,
  configChanges: 20,
};

export const REDUCED: ChaosSize = {
  reduced: true,
  inFlight: 1500,
  brokerDownSeconds: 10,
  perPeerFault: 100,
  fuzzRuns: 400,
  configChanges: 5,
};

/**
 * What the campaign's scenarios share: the benchmark's harness (the peers in their own process, the
 * apps from their production build, one database and topic prefix per scenario), plus control of the
 * real servers, which the faults stop and start with the project's own scripts.
 */
export class ChaosContext extends BenchContext {
  static async create(): Promise<ChaosContext> {
    const peers = await PeersProcess.start();
    return new ChaosContext(peers, await peers.endpoints(), 'chaos');
  }

  /** Stops or starts the real broker or database server (scripts/infra), waiting until it is done. */
  server(which: 'kafka' | 'mongo', command: 'start' | 'stop'): void {
    // The scripts leave an external server alone: a fault scenario would then pass without a fault.
    const ours = which === 'kafka' ? kafkaIsOurs() : mongoIsOurs();
    if (!ours && command === 'stop')
      throw new Error(
        `${which} is external (${which === 'kafka' ? 'KAFKA_BROKERS' : 'MONGODB_URI'} names another server): this scenario must stop it, and cannot; run it against the project's own servers`,
      );
    execFileSync('bash', [`scripts/infra/${which}.sh`, command], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const log = (line: string) => process.stdout.write(`[chaos] ${line}\n`);
