import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@lib/config';
import {
  AppliedStatus,
  MfaConfigRecord,
  MfaConfigRepository,
  MfaConfigSealer,
  MfaConfiguration,
} from '@lib/mfa-config';
import { KeyedSerializer } from '@lib/runtime';
import { DispatcherMetrics } from '../metrics/dispatcher-metrics';
import { SenderFactory } from '../senders/sender-factory';
import { TenantClients } from './tenant-clients';

export type ApplyOutcome =
  | { state: 'applied'; version: number }
  | { state: 'removed'; version: number }
  | { state: 'unchanged'; version: number }
  | { state: 'failed'; version: number; error: string };

/** A load's outcome for one stored configuration, and whether its stored status is behind its version. */
export type LoadOutcome = ApplyOutcome & {
  tenant: string;
  /**
   * The status GET /mfa/push shows is of an older version, or there is none: no report of this
   * version was recorded (its event came while no dispatcher listened, or its report was lost).
   */
  statusBehind?: boolean;
  /** The stored status when it is a report of this very version (by any replica). */
  reported?: AppliedStatus;
};

/**
 * The live push configuration of every tenant, swapped in place when an admin changes it: the
 * dispatcher never restarts to pick up a key. Applies for one tenant run one at a time, in order.
 */
@Injectable()
export class LiveClientRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(LiveClientRegistry.name);
  private readonly live = new Map<string, TenantClients>();
  /** Highest version seen per tenant, deleted ones included, so stale events change nothing. */
  private readonly seenVersions = new Map<string, number>();
  private readonly applying = new KeyedSerializer();
  /** The last outcome per tenant, so a redelivered event (its report may have been lost) is answered again. */
  private readonly lastOutcomes = new Map<string, ApplyOutcome>();
  /** Clients of the start-up load whose keys are still to be checked (checkDeferredKeys). */
  private readonly uncheckedKeys = new Set<TenantClients>();
  private idleSweep?: NodeJS.Timeout;
  private markLoaded!: () => void;
  /** Resolves once every stored configuration was loaded: push requests wait for it. */
  readonly ready = new Promise<void>((resolve) => (this.markLoaded = resolve));

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: MfaConfigRepository,
    private readonly sealer: MfaConfigSealer,
    private readonly senders: SenderFactory,
    private readonly metrics: DispatcherMetrics,
  ) {}

  onModuleInit(): void {
    const idleMs = this.config.dispatcher.idleSessionTimeoutMs;
    this.idleSweep = setInterval(() => void this.closeIdleSessions(idleMs), Math.max(1000, idleMs / 2));
    this.idleSweep.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.idleSweep);
    await Promise.allSettled([...this.live.values()].map((clients) => clients.retire()));
    this.live.clear();
  }

  get(tenant: string): TenantClients | undefined {
    return this.live.get(tenant);
  }

  /**
   * Start-up load and periodic resync: every stored configuration, and removal of vanished ones.
   * `deferKeyChecks` (the start-up load): keys are checked afterwards by checkDeferredKeys, so that
   * push requests need not wait for them (10,000 tenants' keys take ~10 s to parse).
   */
  async loadAll({ deferKeyChecks = false } = {}): Promise<LoadOutcome[]> {
    const records = await this.repository.findAllLive();
    const present = new Set(records.map((record) => record.tenant));
    const outcomes: LoadOutcome[] = await Promise.all(
      records.map(async (record) => {
        const outcome = await this.applying.run(record.tenant, () =>
          this.applyRecord(record, deferKeyChecks),
        );
        // So the event of a version applied here first is still answered with its report.
        if (outcome.state !== 'unchanged') this.lastOutcomes.set(record.tenant, outcome);
        const { status } = record;
        const statusBehind = (status?.version ?? 0) < record.version;
        const reported = status?.version === record.version ? status : undefined;
        return { tenant: record.tenant, ...outcome, statusBehind, reported };
      }),
    );
    for (const tenant of [...this.live.keys()]) {
      if (present.has(tenant)) continue;
      const outcome = await this.applying.run(tenant, () => this.refreshFromStore(tenant, 'push'));
      if (outcome.state !== 'unchanged') this.lastOutcomes.set(tenant, outcome);
      outcomes.push({ tenant, ...outcome });
    }
    this.markLoaded();
    return outcomes;
  }

  /** A configuration-changed event: re-read the configuration (events carry no secrets) if it is newer. */
  async onChanged(tenant: string, type: 'push', version: number): Promise<ApplyOutcome> {
    const seen = this.seenVersions.get(tenant) ?? 0;
    if (version <= seen) {
      const last = this.lastOutcomes.get(tenant);
      return last?.version === version ? last : { state: 'unchanged', version: seen };
    }
    const outcome = await this.applying.run(tenant, () => this.refreshFromStore(tenant, type));
    if (outcome.state !== 'unchanged') this.lastOutcomes.set(tenant, outcome);
    return outcome;
  }

  /**
   * The provider refused the credentials of an applied configuration (a key that parses, but that
   * Apple or Google do not accept). The first refusal per version is to be reported as failed, so
   * admins see it in GET /mfa/push: returns that outcome, or nothing if it was reported already or a
   * newer version replaced it. Call `remember` once the report is out.
   */
  refusalToReport(tenant: string, version: number, error: string): ApplyOutcome | undefined {
    const last = this.lastOutcomes.get(tenant);
    if (this.live.get(tenant)?.version !== version || (last?.version === version && last.state === 'failed'))
      return undefined;
    return { state: 'failed', version, error };
  }

  /**
   * What to report for `version` when the stored status lacks a report of it: `failed` if its apply or
   * the provider refused it here, `applied` if these clients hold it with their keys checked, else
   * nothing (this replica does not hold it, or cannot tell yet).
   */
  catchUpOutcome(tenant: string, version: number): ApplyOutcome | undefined {
    const last = this.lastOutcomes.get(tenant);
    if (last?.version === version && last.state === 'failed') return last;
    const clients = this.live.get(tenant);
    if (clients?.version !== version || this.uncheckedKeys.has(clients)) return undefined;
    return { state: 'applied', version };
  }

  /** A redelivered configuration event is answered with this outcome from now on. */
  remember(tenant: string, outcome: ApplyOutcome): void {
    if ((this.lastOutcomes.get(tenant)?.version ?? 0) <= outcome.version)
      this.lastOutcomes.set(tenant, outcome);
  }

  /**
   * Checks the keys the start-up load left unchecked, yielding to push requests between tenants. A
   * configuration with a broken key is taken out of service, as its apply would have failed; returns
   * those failures, to be reported.
   */
  async checkDeferredKeys(): Promise<(ApplyOutcome & { tenant: string })[]> {
    const failures: (ApplyOutcome & { tenant: string })[] = [];
    // Each leaves the set only once its outcome is known: until then a resync's catch-up does not
    // call its version applied. The set itself, not a copy: a version narrowed meanwhile (narrow())
    // takes its place there, and is checked in its turn.
    for (const clients of this.uncheckedKeys) {
      await new Promise((resolve) => setImmediate(resolve));
      try {
        const failure = await this.checkDeferredKey(clients);
        if (failure) failures.push(failure);
      } finally {
        this.uncheckedKeys.delete(clients);
      }
    }
    return failures;
  }

  private async checkDeferredKey(
    clients: TenantClients,
  ): Promise<(ApplyOutcome & { tenant: string }) | undefined> {
    try {
      clients.checkKeys();
      return undefined;
    } catch (error) {
      const { tenant, version } = clients;
      const outcome = await this.applying.run(tenant, async () => {
        // Replaced meanwhile by a newer version, whose keys were checked when it was applied.
        if (this.live.get(tenant) !== clients) return undefined;
        await this.swap(tenant, undefined);
        return this.applyFailed(tenant, version, error as Error);
      });
      if (!outcome) return undefined;
      this.lastOutcomes.set(tenant, outcome);
      return { tenant, ...outcome };
    }
  }

  private async refreshFromStore(tenant: string, type: 'push'): Promise<ApplyOutcome> {
    const record = await this.repository.findAny(tenant, type, { committed: true });
    if (!record || record.deleted) {
      const version = record?.version ?? this.seenVersions.get(tenant) ?? 0;
      this.seenVersions.set(tenant, version);
      await this.swap(tenant, undefined);
      return { state: 'removed', version };
    }
    return this.applyRecord(record);
  }

  private async applyRecord(record: MfaConfigRecord, deferKeyCheck = false): Promise<ApplyOutcome> {
    const { tenant, version } = record;
    // A resync snapshot read before a newer change (a delete, say) must not bring the old one back.
    if (version < (this.seenVersions.get(tenant) ?? 0)) return { state: 'unchanged', version };
    const held = this.live.get(tenant);
    if (held && held.version >= version) return { state: 'unchanged', version: held.version };
    this.seenVersions.set(tenant, Math.max(version, this.seenVersions.get(tenant) ?? 0));
    const started = Date.now();
    try {
      const clients = new TenantClients(tenant, version, this.opened(record), this.senders, {
        checkKeys: !deferKeyCheck,
      });
      if (deferKeyCheck) this.uncheckedKeys.add(clients);
      await this.swap(tenant, clients);
      this.metrics.configReloads.inc({ state: 'applied' });
      this.metrics.configReloadDuration.observe((Date.now() - started) / 1000);
      this.logger.log(`tenant ${tenant}: configuration v${version} live in ${Date.now() - started} ms`);
      return { state: 'applied', version };
    } catch (error) {
      // The old clients keep serving: a broken update must not take a working configuration down. But
      // only what the update still allows: a client or a provider it removed goes at once.
      if (held?.enabled) await this.narrow(held, record);
      return this.applyFailed(tenant, version, error as Error);
    }
  }

  /**
   * A disabled configuration sends nothing, so its secrets are not opened: a disable (after a leak,
   * say) applies even on a replica that cannot open them, such as one whose MFA_ENCRYPTION_KEYS lacks
   * the key the API sealed them with.
   */
  private opened(record: MfaConfigRecord): MfaConfiguration {
    return record.enabled ? this.sealer.open(record) : this.sealer.openReplaceable(record).config;
  }

  /** Swaps in the held version less what `record` (a version that could not be applied) took away. */
  private async narrow(held: TenantClients, record: MfaConfigRecord): Promise<void> {
    const narrowed = narrowedConfiguration(held.config, record);
    if (!narrowed) return;
    const clients = new TenantClients(held.tenant, held.version, narrowed, this.senders, {
      checkKeys: false,
    });
    if (this.uncheckedKeys.delete(held)) this.uncheckedKeys.add(clients);
    await this.swap(held.tenant, clients);
    this.logger.warn(
      `tenant ${held.tenant}: v${held.version} keeps serving without the clients and providers v${record.version} removed`,
    );
  }

  private applyFailed(tenant: string, version: number, error: Error): ApplyOutcome {
    const last = this.lastOutcomes.get(tenant);
    // Every resync tries a version that failed again: counted and logged as an error once, not each time.
    if (last?.state === 'failed' && last.version === version && last.error === error.message)
      this.logger.debug(
        `tenant ${tenant}: configuration v${version} still cannot be applied: ${error.message}`,
      );
    else {
      this.metrics.configReloads.inc({ state: 'failed' });
      this.logger.error(`tenant ${tenant}: configuration v${version} could not be applied: ${error.message}`);
    }
    return { state: 'failed', version, error: error.message };
  }

  private async swap(tenant: string, next: TenantClients | undefined): Promise<void> {
    const previous = this.live.get(tenant);
    if (next) this.live.set(tenant, next);
    else this.live.delete(tenant);
    this.metrics.liveConfigurations.set(this.live.size);
    // New sends go to the new clients at once; the old ones close after their in-flight sends.
    if (previous) void previous.retire();
  }

  private async closeIdleSessions(idleMs: number): Promise<void> {
    const now = Date.now();
    for (const clients of this.live.values()) await clients.closeIdleSessions(now, idleMs);
  }
}

/**
 * `config` less the clients and providers `record` does not have (null when that is nothing), so a
 * version that could not be applied still takes away what it removed.
 */
function narrowedConfiguration(config: MfaConfiguration, record: MfaConfigRecord): MfaConfiguration | null {
  const stored = record.settings;
  if (!stored) return null;
  const { apns, fcm, enabled_clients } = config.settings;
  const kept = enabled_clients.filter((client) => stored.enabled_clients.includes(client));
  const dropsApns = apns !== undefined && !stored.apns;
  const dropsFcm = fcm !== undefined && !stored.fcm;
  if (kept.length === enabled_clients.length && !dropsApns && !dropsFcm) return null;
  const { apns: _apns, fcm: _fcm, ...rest } = config.settings;
  return {
    ...config,
    settings: {
      ...rest,
      enabled_clients: kept,
      ...(apns && !dropsApns && { apns }),
      ...(fcm && !dropsFcm && { fcm }),
    },
  };
}
