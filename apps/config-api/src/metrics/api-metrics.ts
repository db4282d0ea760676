import { Injectable } from '@nestjs/common';
import { within } from '@lib/runtime';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { MfaConfigRepository } from '@lib/mfa-config';
import { leftAfter, SecretResealer } from '../key-rotation/secret-resealer';

/** The config-api's Prometheus metrics, in a registry of its own (no process-global state). */
@Injectable()
export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and method',
    labelNames: ['route', 'method'] as const,
    // Up to 10 s: the 503s of a store outage take about 5 s, and FerretDB's PATCHes seconds.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor(repository: MfaConfigRepository, resealer: SecretResealer) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'mfa_outbox_backlog',
      help: 'Configurations with configuration-changed events not yet on Kafka',
      registers: [this.registry],
      async collect() {
        // Without the database the gauge keeps its last value rather than failing the whole scrape.
        const backlog = await within(repository.countWithPendingEvents());
        if (backlog !== undefined) this.set(backlog);
      },
    });
    new Gauge({
      name: 'mfa_secrets_on_retired_keys',
      help: 'Configurations with a secret still sealed with another key than the first of MFA_ENCRYPTION_KEYS, after the last re-seal pass (NaN before the first; at 0 the other keys can go, see docs/security.md)',
      registers: [this.registry],
      collect() {
        this.set(resealer.lastPass ? leftAfter(resealer.lastPass) : NaN);
      },
    });
    new Gauge({
      name: 'mfa_secrets_last_reseal_pass_timestamp_seconds',
      help: 'When the last finished re-seal pass started (Unix time): mfa_secrets_on_retired_keys speaks for the keyring as it was then',
      registers: [this.registry],
      collect() {
        this.set(resealer.lastPass ? resealer.lastPass.startedAt.getTime() / 1000 : NaN);
      },
    });
  }
}
