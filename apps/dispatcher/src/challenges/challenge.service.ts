import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@lib/config';
import {
  CHALLENGE_ID_PATTERN,
  DEFAULT_TENANT,
  EventValidator,
  MAX_CHALLENGE_TTL_MS,
  PushRequestedEvent,
  pushRequestedSchema,
  PushResultEvent,
  TENANT_ID_PATTERN,
} from '@lib/contracts';
import { LiveClientRegistry } from '../config-sync/live-client-registry';
import type { TenantClients } from '../config-sync/tenant-clients';
import type { SendOutcome } from '../senders/push-sender';
import { DispatcherMetrics } from '../metrics/dispatcher-metrics';
import { ResultPublisher } from '../results/result-publisher';
import { challengeNotification } from './challenge-content';
import { numberChoices } from './number-matching';
import { backoffDelayMs } from './retry-policy';
import { ChallengeLedger, RequestPosition } from './challenge-ledger';

export interface IncomingPushRequest {
  key: string | null;
  value: Buffer | null;
  /** The Kafka message timestamp: when the request was produced. */
  timestamp: string;
  topic: string;
  partition: number;
  offset: string;
  /** Keeps the consumer's group membership alive while a challenge waits between retries. */
  heartbeat: () => Promise<void>;
}

type Rejection = { reason: string };

const MAX_KEPT_ORIGINAL_BYTES = 64 * 1024;

/**
 * Turns one push request into exactly one result: validates it, checks it against the tenant's live
 * configuration, builds the prompt or number-matching content, sends it (retrying transient failures
 * until it expires) and publishes the outcome. Invalid messages go to the dead-letter topic.
 */
@Injectable()
export class ChallengeService {
  private readonly logger = new Logger(ChallengeService.name);
  private readonly validator = new EventValidator(pushRequestedSchema);
  /** Set at shutdown: retries stop and their messages stay uncommitted, for another replica. */
  private stopping = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly registry: LiveClientRegistry,
    private readonly publisher: ResultPublisher,
    private readonly metrics: DispatcherMetrics,
    private readonly ledger: ChallengeLedger,
  ) {}

  stopRetrying(): void {
    this.stopping = true;
  }

  async handle(message: IncomingPushRequest): Promise<void> {
    const parsed = this.validator.parse(message.value);
    if (!parsed.ok) return this.deadLetter(message, parsed.reason);
    const request = parsed.value;
    const position = positionOf(message);
    const earlier = this.ledger.get(request.challenge_id);
    if (earlier) return this.handleAgain(message, request.challenge_id, position);
    this.ledger.begin(request.challenge_id, position);
    let result: PushResultEvent;
    try {
      result = await this.process(request, new Date(Number(message.timestamp)), message.heartbeat);
    } catch (error) {
      this.ledger.abandon(request.challenge_id);
      throw error;
    }
    await this.publish(result, position);
    this.record(result);
  }

  /**
   * A challenge id this replica knows. The same request again (same position: Kafka redelivered it after
   * a crash, a rebalance or a broker restart) is never pushed twice: it waits for the first delivery or
   * publishes the result that could not be published. Another request reusing the id is a dead letter.
   */
  private async handleAgain(
    message: IncomingPushRequest,
    challengeId: string,
    position: RequestPosition,
  ): Promise<void> {
    const earlier = this.ledger.get(challengeId)!;
    if (earlier.position !== null && earlier.position !== position) {
      this.metrics.duplicateChallenges.inc();
      return this.deadLetter(
        message,
        `duplicate_challenge_id: challenge ${challengeId} was already requested at ${earlier.position}; use a new id per challenge`,
      );
    }
    this.metrics.redeliveries.inc();
    if (earlier.state === 'running') {
      await earlier.done;
      // Finished (nothing more to do) or abandoned (handled afresh now).
      return this.ledger.get(challengeId) ? undefined : this.handle(message);
    }
    if (earlier.unpublished) await this.publish(earlier.unpublished, position);
  }

  /** Publishes a result; a failure keeps it in the ledger for the redelivery, which must not push again. */
  private async publish(result: PushResultEvent, position: RequestPosition): Promise<void> {
    try {
      await this.publisher.publishResult(result, position);
    } catch (error) {
      this.ledger.finish(result.challenge_id, position, result, false);
      throw error;
    }
    this.ledger.finish(result.challenge_id, position, result, true);
  }

  private async process(
    request: PushRequestedEvent,
    requestedAt: Date,
    heartbeat: () => Promise<void>,
  ): Promise<PushResultEvent> {
    const tenant = request.tenant ?? DEFAULT_TENANT;
    const provider = request.device.provider;
    const clients = this.registry.get(tenant);
    const result = (
      status: PushResultEvent['status'],
      fields: Partial<PushResultEvent> = {},
    ): PushResultEvent => ({
      challenge_id: request.challenge_id,
      tenant,
      status,
      provider,
      config_version: clients?.version ?? null,
      retryable: false,
      attempts: 0,
      requested_at: isNaN(requestedAt.getTime()) ? null : requestedAt.toISOString(),
      completed_at: new Date().toISOString(),
      ...fields,
    });

    const expiresAt = new Date(request.expires_at).getTime();
    if (expiresAt <= Date.now()) return result('expired', { reason: 'expired_before_send' });
    if (expiresAt > Date.now() + MAX_CHALLENGE_TTL_MS)
      return result('rejected', {
        reason: `invalid_request: expires_at is more than ${MAX_CHALLENGE_TTL_MS / 60_000} minutes ahead`,
      });
    const rejection = this.check(request, clients);
    if (rejection) return result('rejected', rejection);

    const strategy = clients!.config.settings.strategy;
    const values = strategy === 'code' ? (request.values ?? numberChoices(request.code!)) : undefined;
    const notification = challengeNotification(request, strategy, values);

    let attempts = 0;
    let last: SendOutcome | undefined;
    // An SDK call that outlived our timeout may still be retrying inside the SDK (firebase-admin waits
    // out a 503's Retry-After): the next attempt waits for it instead of sending a second push.
    let unfinished: Promise<SendOutcome> | undefined;
    while (Date.now() < expiresAt) {
      attempts += 1;
      // Each attempt takes the tenant's current clients, so a retry after a key change uses the new key,
      // and one after the admin disabled or narrowed the configuration is refused for the same reasons.
      const current = this.registry.get(tenant);
      const refused = this.check(request, current);
      if (refused || !current) return result('rejected', { ...refused, attempts: attempts - 1 });
      const sender = current.sender(provider)!;
      // The lease covers the whole SDK call, also past our timeout, so a swap never closes a session under it.
      const call = unfinished ?? asOutcome(current.use(() => sender.send(notification)));
      const stopTimer = this.metrics.providerLatency.startTimer({ provider });
      const timedOut = await this.settlesWithin(call);
      unfinished = timedOut ? call : undefined;
      last = timedOut
        ? { ok: false, reason: 'provider_error', retryable: true, detail: 'send timed out' }
        : await call;
      stopTimer({ outcome: last.ok ? 'ok' : last.reason });
      if (last.ok)
        return result('sent', {
          attempts,
          config_version: current.version,
          provider_message_id: last.providerMessageId,
        });
      if (!last.retryable) break;
      if (this.stopping)
        throw new Error(`shutting down: challenge ${request.challenge_id} left for another replica`);
      this.metrics.retries.inc({ provider });
      const wait = Math.min(backoffDelayMs(attempts), Math.max(0, expiresAt - Date.now()));
      this.logger.warn(
        `challenge ${request.challenge_id}: attempt ${attempts} failed (${last.detail}); retrying in ${wait} ms`,
      );
      await this.sleepWithHeartbeat(wait, heartbeat);
    }
    if (!last || last.ok) return result('expired', { reason: 'expired_before_send', attempts });
    if (last.retryable)
      return result('expired', {
        reason: `expired_while_retrying: ${last.detail}`,
        attempts,
        retryable: true,
      });
    if (last.reason === 'config_invalid')
      this.logger.error(
        `tenant ${tenant}: ${provider} credentials refused (${last.detail}); fix the configuration`,
      );
    return result('failed', { reason: last.reason, attempts });
  }

  private check(request: PushRequestedEvent, clients: TenantClients | undefined): Rejection | undefined {
    if (!clients) return { reason: 'mfa_not_configured' };
    if (!clients.enabled) return { reason: 'mfa_disabled' };
    const { settings } = clients.config;
    if (!settings.enabled_clients.includes(request.client_id)) return { reason: 'client_not_enabled' };
    if (!clients.sender(request.device.provider)) return { reason: 'provider_not_configured' };
    if (request.strategy && request.strategy !== settings.strategy)
      return { reason: `strategy_mismatch: the tenant uses ${settings.strategy}` };
    if (settings.strategy === 'code') {
      if (!request.code) return { reason: 'invalid_request: code is required for number matching' };
      if (request.values && !request.values.includes(request.code))
        return { reason: 'invalid_request: values must contain code' };
    }
    return undefined;
  }

  /** True when the call did not settle within the send timeout. */
  private async settlesWithin(call: Promise<SendOutcome>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.config.dispatcher.sendTimeoutMs);
    });
    try {
      return await Promise.race([call.then(() => false), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async sleepWithHeartbeat(ms: number, heartbeat: () => Promise<void>): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, until - Date.now())));
      // A failed heartbeat (a rebalance) ends the handler: another member will own this message.
      await heartbeat();
    }
  }

  private async deadLetter(message: IncomingPushRequest, reason: string): Promise<void> {
    this.logger.warn(
      `push request at ${message.topic}/${message.partition}@${message.offset} is invalid: ${reason}`,
    );
    await this.publisher.publishDeadLetter({
      reason,
      original_key: message.key,
      original_value: keptOriginal(message),
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      failed_at: new Date().toISOString(),
    });
    const challengeId = readableChallengeId(message);
    // A challenge that has (or will have) its result gets no second one.
    if (challengeId && !this.ledger.get(challengeId)) {
      const rejected: PushResultEvent = {
        challenge_id: challengeId,
        tenant: readableTenant(message) ?? DEFAULT_TENANT,
        status: 'rejected',
        provider: null,
        config_version: null,
        reason: `invalid_request: ${reason}`,
        retryable: false,
        attempts: 0,
        requested_at: null,
        completed_at: new Date().toISOString(),
      };
      await this.publish(rejected, positionOf(message));
      this.record(rejected);
    }
  }

  private record(result: PushResultEvent): void {
    const provider = result.provider ?? 'none';
    // Only the reason's code: free text (provider detail) would explode the label set.
    const reason = (result.reason ?? '').split(':')[0];
    this.metrics.pushes.inc({ provider, status: result.status, reason });
    if (result.requested_at)
      this.metrics.endToEnd.observe(
        { provider, status: result.status },
        (Date.parse(result.completed_at) - Date.parse(result.requested_at)) / 1000,
      );
  }
}

/** An SDK call that throws is a transient provider failure, retried like one. */
function asOutcome(sending: Promise<SendOutcome>): Promise<SendOutcome> {
  return sending.catch((error: Error): SendOutcome => ({
    ok: false,
    reason: 'provider_error',
    retryable: true,
    detail: error.message,
  }));
}

/**
 * The original value as a dead letter keeps it: whole up to 64 KiB, else its beginning. A letter must
 * stay under the broker's message limit (1 MB): one near the limit (bytes that are not UTF-8 grow
 * threefold as text) would fail to publish and hold its partition forever. The letter names the
 * original's position, where it can still be read whole.
 */
function keptOriginal(message: IncomingPushRequest): string | null {
  if (!message.value) return null;
  if (message.value.length <= MAX_KEPT_ORIGINAL_BYTES) return message.value.toString();
  const kept = message.value.subarray(0, MAX_KEPT_ORIGINAL_BYTES).toString();
  return `${kept}…[truncated: ${message.value.length} bytes in all]`;
}

function positionOf(message: IncomingPushRequest): RequestPosition {
  return `${message.topic}/${message.partition}@${message.offset}`;
}

/** The challenge id of an invalid message, from its value or else its key, when it looks like one. */
function readableChallengeId(message: IncomingPushRequest): string | undefined {
  const fromValue = safeJson(message.value)?.challenge_id;
  const candidate = typeof fromValue === 'string' ? fromValue : message.key;
  return candidate && new RegExp(CHALLENGE_ID_PATTERN).test(candidate) ? candidate : undefined;
}

function readableTenant(message: IncomingPushRequest): string | undefined {
  const tenant = safeJson(message.value)?.tenant;
  return typeof tenant === 'string' && new RegExp(TENANT_ID_PATTERN).test(tenant) ? tenant : undefined;
}

function safeJson(value: Buffer | null): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value?.toString() ?? '');
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
