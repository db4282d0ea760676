import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** A challenge's whole life: up to 15 minutes, and a minute more for a send still under way at its expiry. */
const END_TO_END_BUCKETS = [...LATENCY_BUCKETS, 30, 60, 120, 300, 900, 1200];

/** The dispatcher's Prometheus metrics, in a registry of its own (no process-global state). */
@Injectable()
export class DispatcherMetrics {
  readonly registry = new Registry();
  readonly pushes = new Counter({
    name: 'mfa_pushes_total',
    help: 'Challenges handled, by provider, status and reason',
    labelNames: ['provider', 'status', 'reason'] as const,
    registers: [this.registry],
  });
  readonly endToEnd = new Histogram({
    name: 'mfa_push_end_to_end_seconds',
    help: 'From the request being produced to its result, by provider and status',
    labelNames: ['provider', 'status'] as const,
    buckets: END_TO_END_BUCKETS,
    registers: [this.registry],
  });
  readonly providerLatency = new Histogram({
    name: 'mfa_provider_request_seconds',
    help: 'One APNs or FCM call, by provider and outcome',
    labelNames: ['provider', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'mfa_push_retries_total',
    help: 'Provider calls after the first of a challenge (a transient failure retried, in place or from its parked copy), by provider',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly parked = new Counter({
    name: 'mfa_push_parked_total',
    help: 'Push requests whose first attempt failed, handed to mfa.push.retrying to be retried there, by provider',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly redeliveries = new Counter({
    name: 'mfa_push_redeliveries_total',
    help: 'Push requests Kafka delivered again after they were handled (crash, rebalance, broker restart); not pushed twice',
    registers: [this.registry],
  });
  readonly duplicateChallenges = new Counter({
    name: 'mfa_push_duplicate_challenges_total',
    help: 'Push requests reusing the challenge id of an earlier request; sent to the dead-letter topic',
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'mfa_config_reloads_total',
    help: 'Configuration applies, by outcome (a version that keeps failing counts once per replica)',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly configReloadDuration = new Histogram({
    name: 'mfa_config_reload_seconds',
    help: 'Time to build and swap in a configuration’s clients',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly liveConfigurations = new Gauge({
    name: 'mfa_live_configurations',
    help: 'Tenant configurations this replica holds',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
