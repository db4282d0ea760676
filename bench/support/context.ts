import { randomBytes } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { pushRequest, apnsDeviceToken, fcmDeviceToken } from '../../test/fixtures/push-request.builder';
import { kafkaBrokers, mongoUri, withDatabase } from '../../test/support/local-servers';
import type { PushRequestedEvent } from '@lib/contracts';
import { benchKafka } from './kafka';
import { PeerEndpoints, PeersProcess } from './peers';
import { AppProcess, freePort } from './processes';
import { BenchCredentials } from './tenants';

/**
 * What every scenario shares: the peers process, the credentials, and how to start the apps. The
 * benchmark and the chaos campaign (`kind`) each keep their own databases, topics and logs.
 */
export class BenchContext {
  readonly runId = randomBytes(3).toString('hex');
  readonly stateDir: string;
  readonly logDir: string;
  readonly brokers = kafkaBrokers().split(',');
  readonly mongoBase = mongoUri();
  readonly encryptionKeys = `bench:${randomBytes(32).toString('base64')}`;
  readonly credentials = new BenchCredentials();
  readonly kafka: Kafka;
  readonly partitions = 12;
  private readonly caFile: string;
  /** Every app started, so a failed scenario leaves none running. */
  private readonly started: AppProcess[] = [];

  constructor(
    readonly peers: PeersProcess,
    readonly endpoints: PeerEndpoints,
    readonly kind: 'bench' | 'chaos' = 'bench',
  ) {
    this.stateDir = resolve('.local', kind);
    this.logDir = join(this.stateDir, 'logs');
    mkdirSync(this.logDir, { recursive: true });
    this.caFile = join(this.stateDir, 'ca.pem');
    writeFileSync(this.caFile, endpoints.caPem);
    this.kafka = benchKafka(this.brokers, `${kind}-load`);
  }

  /** A database of this run, by purpose. */
  database(purpose: string): string {
    return withDatabase(this.mongoBase, `push_mfa_${this.kind}_${this.runId}_${purpose}`);
  }

  topicPrefix(scenario: string): string {
    return `${this.kind}-${this.runId}-${scenario}.`;
  }

  /** The environment of an app of this run: sandbox peers, quiet logs, its own topics and group. */
  env(scenario: string, database: string, overrides: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'development',
      // BENCH_LOG_LEVEL=info: the apps' start-up steps in .local/bench/logs, with their times.
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      LOCAL_STATE_DIR: this.stateDir,
      AUTH_MODE: 'dev',
      MONGODB_URI: database,
      MFA_ENCRYPTION_KEYS: this.encryptionKeys,
      KAFKA_BROKERS: this.brokers.join(','),
      KAFKA_TOPIC_PREFIX: this.topicPrefix(scenario),
      KAFKA_PUSH_PARTITIONS: String(this.partitions),
      DISPATCHER_CONSUMER_GROUP: `${this.kind}-${scenario}`,
      APNS_ENDPOINT: this.endpoints.apnsEndpoint,
      FCM_ENDPOINT: this.endpoints.fcmUrl,
      PUSH_SANDBOX_CA_FILE: this.caFile,
      // The admin scenario measures the API, not its per-address limit (autocannon is one address).
      API_RATE_LIMIT_PER_MINUTE: '0',
      ...overrides,
    };
  }

  async startDispatcher(
    scenario: string,
    database: string,
    overrides: Record<string, string> = {},
    nodeArgs: string[] = [],
  ): Promise<AppProcess> {
    const port = await freePort();
    // BENCH_PROFILE=1: a V8 CPU profile of each dispatcher (written when it stops), for flame graphs.
    const profile = process.env.BENCH_PROFILE
      ? ['--cpu-prof', `--cpu-prof-dir=${join(this.stateDir, 'profiles')}`]
      : [];
    // BENCH_NODE_ARGS: node flags to try on the dispatcher (e.g. --max-semi-space-size=64; see levers.md).
    profile.push(...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...nodeArgs);
    return this.track(
      AppProcess.start(
        'dispatcher',
        this.env(scenario, database, { DISPATCHER_PORT: String(port), ...overrides }),
        port,
        this.logDir,
        profile,
      ),
    );
  }

  async startConfigApi(
    scenario: string,
    database: string,
    overrides: Record<string, string> = {},
  ): Promise<AppProcess> {
    const port = await freePort();
    return this.track(
      AppProcess.start(
        'config-api',
        this.env(scenario, database, { PORT: String(port), ...overrides }),
        port,
        this.logDir,
      ),
    );
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled(this.started.map((app) => app.stop()));
  }

  ownsDatabase(name: string): boolean {
    return name.startsWith(`push_mfa_${this.kind}_${this.runId}_`);
  }

  ownsTopic(name: string): boolean {
    return name.startsWith(`${this.kind}-${this.runId}-`);
  }

  /** Drops this run's databases and topics: a benchmark leaves nothing behind in the servers. */
  async cleanUp(): Promise<void> {
    const client = await MongoClient.connect(this.mongoBase);
    try {
      const { databases } = await client.db().admin().listDatabases();
      const ours = databases.filter((db) => this.ownsDatabase(db.name));
      for (const db of ours) await client.db(db.name).dropDatabase();
    } finally {
      await client.close();
    }
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const topics = (await admin.listTopics()).filter((topic) => this.ownsTopic(topic));
      if (topics.length) await admin.deleteTopics({ topics });
    } finally {
      await admin.disconnect();
    }
  }

  private async track(starting: Promise<AppProcess>): Promise<AppProcess> {
    const app = await starting;
    this.started.push(app);
    return app;
  }
}

/** Push requests spread over tenants: APNs and FCM alternating, each tenant's own strategy. */
export function requestsFor(
  tenants: string[],
  count: number,
  providers: ('apns' | 'fcm')[],
  strategyOf: (tenantIndex: number) => 'code' | 'prompt',
  ttlMs = 10 * 60_000,
): PushRequestedEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const tenantIndex = i % tenants.length;
    const provider = providers[i % providers.length];
    return pushRequest({
      challenge_id: `b-${i}-${randomBytes(6).toString('hex')}`,
      tenant: tenants[tenantIndex],
      device: { provider, token: provider === 'apns' ? apnsDeviceToken() : fcmDeviceToken() },
      ...(strategyOf(tenantIndex) === 'code' && { code: String(i % 100).padStart(2, '0') }),
      expires_at: new Date(Date.now() + ttlMs).toISOString(),
    });
  });
}

export const strategyOf = (index: number): 'code' | 'prompt' => (index % 2 === 0 ? 'code' : 'prompt');
