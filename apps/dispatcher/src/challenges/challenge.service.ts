import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { PartitionHandedOverError } from '@lib/kafka';
import { RateLimitedLog } from '@lib/runtime';
import {
  CHALLENGE_ID_PATTERN,
  DEFAULT_TENANT,
  EventValidator,
  MAX_CHALLENGE_TTL_MS,
  numberMatchingProblem,
  PushRequestedEvent,
  pushRequestedSchema,
  PushResultEvent,
  TENANT_ID_PATTERN,
} from '@lib/contracts';
import { LiveClientRegistry } from '../config-sync/live-client-registry';
import type { TenantClients } from '../config-sync/tenant-clients';
import { MAX_PAYLOAD_BYTES, payloadBytes, type SendOutcome } from '../senders/push-sender';
import { DispatcherMetrics } from '../metrics/dispatcher-metrics';
import { PublishedResultsFollower } from '../results/published-results.follower';
import { ResultPublisher } from '../results/result-publisher';
import { challengeNotification } from './challenge-content';
import { NumberMatching } from './number-matching';
import { nextAttemptDelayMs } from './retry-policy';
import { ChallengeLedger, RequestPosition } from './challenge-ledger';
import type { ParkedState } from './parked-request';

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
  /**
   * Runs a wait between attempts without holding one of the partition's slots: a challenge waiting out
   * a minute of FCM quota must not keep other tenants' requests behind it from starting.
   */
  withoutSlot: <T>(wait: () => Promise<T>) => Promise<T>;
  /** Read from mfa.push.retrying: how far the request got before it was parked there. */
  parked?: ParkedState;
}

type Rejection = { reason: string };
/** The first attempt failed and may succeed later: the request leaves its partition for mfa.push.retrying. */
type Parking = { park: Pick<ParkedState, 'attempts' | 'lastFailure' | 'retryAt'> };
/** What a challenge's handling holds of its message while it runs: its group membership and its slot. */
type Hold = Pick<IncomingPushRequest, 'heartbeat' | 'withoutSlot'>;

const MAX_KEPT_ORIGINAL_BYTES = 64 * 1024;
const MAX_KEPT_KEY_BYTES = 1024;
/** Well within the group's session timeout (KAFKA_SESSION_TIMEOUT_MS, at least 6 s). */
const HEARTBEAT_EVERY_MS = 1000;

/**
 * Turns one push request into exactly one result: validates it, checks it against the tenant's live
 * configuration, builds the prompt or number-matching content, sends it (retrying transient failures
 * until it expires) and publishes the outcome. Invalid messages go to the dead-letter topic.
 */
@Injectable()
export class ChallengeService {
  private readonly logger = new Logger(ChallengeService.name);
  private readonly validator = new EventValidator(pushRequestedSchema);
  /** Lines that recur with every push while a provider fails or a configuration is wrong. */
  private readonly recurring = new RateLimitedLog();
  /** Set at shutdown: retries stop and their messages stay uncommitted, for another replica. */
  private stopping = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly registry: LiveClientRegistry,
    private readonly publisher: ResultPublisher,
    private readonly metrics: DispatcherMetrics,
    private readonly ledger: ChallengeLedger,
    private readonly numberMatching: NumberMatching,
    private readonly publishedResults: PublishedResultsFollower,
  ) {}

  stopRetrying(): void {
    this.stopping = true;
  }

  /** `lookingAgain`: the same delivery, handled again once what it waited for ended (counted once). */
  async handle(message: IncomingPushRequest, lookingAgain = false): Promise<void> {
    const parsed = this.validator.parse(message.value);
    if (!parsed.ok) {
      // Parked as it came, so valid then: only a foreign writer to the internal topic gets here.
      if (message.parked)
        return this.logger.error(`${describe(message)} is not a push request (${parsed.reason}); dropped`);
      return this.deadLetter(message, parsed.reason);
    }
    const request = parsed.value;
    const copy = message.parked !== undefined;
    const position = message.parked?.position ?? positionOf(message);
    const earlier = this.ledger.get(request.challenge_id);
    // A parked copy is this one's to see through, once its parking is known (or not known at all),
    // unless a newer copy took over from it.
    const ownCopy =
      copy &&
      earlier?.state === 'parked' &&
      earlier.position === position &&
      this.ledger.isNewestCopy(request.challenge_id, message.parked!.attempts);
    if (earlier && !ownCopy) return this.handleAgain(message, request, position, lookingAgain);
    this.ledger.begin(request.challenge_id, position, { copy, attempts: message.parked?.attempts });
    let outcome: PushResultEvent | Parking;
    try {
      const requestedAt = new Date(Number(message.parked?.requestedAt ?? message.timestamp));
      outcome = await this.process(request, requestedAt, message, message.parked);
    } catch (error) {
      if (error instanceof AnsweredElsewhere) {
        this.logger.warn(`${error.message}; this replica's retries end`);
        return this.ledger.learn(request.challenge_id, position, { settled: true });
      }
      // Nothing was pushed: a redelivery handles it afresh. A copy stays parked, for its redelivery.
      if (copy) this.ledger.park(request.challenge_id, position, undefined, message.parked!.attempts);
      else this.ledger.abandon(request.challenge_id);
      throw error;
    }
    if ('park' in outcome) return this.park(message, request, position, outcome.park);
    await this.publish(outcome, position);
    this.record(outcome);
  }

  /**
   * Hands a request whose first attempt failed to mfa.push.retrying, where it is retried until it
   * expires: retried here, it would keep its place, and the requests behind it in the partition
   * (any tenant's) would wait. Its offset here is committed once the parked copy is stored.
   */
  private async park(
    message: IncomingPushRequest,
    request: PushRequestedEvent,
    position: RequestPosition,
    state: Parking['park'],
  ): Promise<void> {
    // A copy parked again keeps when the request itself was made.
    const copy: ParkedState = {
      position,
      requestedAt: message.parked?.requestedAt ?? message.timestamp,
      ...state,
    };
    // Parked from now on: a copy that fails to be stored (or may have been) is stored again by the
    // redelivery, never pushed afresh.
    this.ledger.park(request.challenge_id, position, copy);
    await this.storeCopy(request.challenge_id, message.value!, copy);
    const { provider } = request.device;
    // Requests handed over here, not copies handed over again (nor one stored by a redelivery after its store failed).
    if (!message.parked) this.metrics.parked.inc({ provider });
    this.recurring.write(`parked:${provider}:${failureKind(state.lastFailure)}`, (leftOut) =>
      this.logger.warn(
        `challenge ${request.challenge_id}: attempt ${state.attempts} failed (${state.lastFailure}); retrying it from mfa.push.retrying${RateLimitedLog.leftOutNote(leftOut)}`,
      ),
    );
  }

  /** Keyed by the challenge id, whatever the request's key: replicas learn parked challenges by it. */
  private async storeCopy(challengeId: string, value: Buffer, copy: ParkedState): Promise<void> {
    let stored = false;
    try {
      await this.publisher.publishParked(challengeId, value, copy);
      stored = true;
    } catch (error) {
      this.logger.error(
        `challenge ${challengeId}: could not hand it to mfa.push.retrying (${(error as Error).message}); its request is read again. With ACLs, dispatchers need Write on that topic`,
      );
      throw error;
    } finally {
      this.ledger.storeEnded(challengeId, stored);
    }
  }

  /**
   * A challenge id this replica knows. The same request again (same position: Kafka redelivered it after
   * a crash, a rebalance or a broker restart) is never pushed twice: it waits for the first delivery or
   * publishes the result that could not be published. Another request reusing the id is a dead letter.
   */
  private async handleAgain(
    message: IncomingPushRequest,
    request: PushRequestedEvent,
    position: RequestPosition,
    lookingAgain: boolean,
  ): Promise<void> {
    const challengeId = request.challenge_id;
    const earlier = this.ledger.get(challengeId)!;
    if (earlier.position !== null && earlier.position !== position) {
      // Its request at `position` was judged when it was first read.
      if (message.parked)
        return this.logger.warn(
          `${describe(message)}: challenge ${challengeId} is known from ${earlier.position}; dropped`,
        );
      this.metrics.duplicateChallenges.inc();
      return this.deadLetter(
        message,
        `duplicate_challenge_id: challenge ${challengeId} was already requested at ${earlier.position}; use a new id per challenge`,
      );
    }
    if (!lookingAgain) this.metrics.redeliveries.inc();
    if (earlier.state === 'running') {
      // Its parked copy sees it through, maybe until it expires: the request need not wait for that.
      if (earlier.copy && !message.parked) return;
      // Without its slot: the run it waits for may itself be waiting for one (after a backoff).
      await message.withoutSlot(() => earlier.done);
      // A copy that waited may have lost its partition meanwhile: then the new owner runs it.
      if (message.parked) await message.heartbeat();
      // Finished (published or not), parked, or abandoned: handled from what the ledger says now.
      return this.handle(message, true);
    }
    // Parked: its newest copy sees it through, once stored; an older copy read again is dropped.
    if (earlier.state === 'parked') {
      if (!earlier.unstored) return;
      // Never stored, and expired meanwhile (the topic may not be writable): its result comes from here.
      if (Date.parse(request.expires_at) <= Date.now()) {
        const requestedAt = new Date(Number(earlier.unstored.requestedAt));
        const expired = await this.process(request, requestedAt, message, earlier.unstored);
        if ('park' in expired) throw new Error(`challenge ${challengeId} expired, yet was parked again`);
        await this.publish(expired, position);
        return this.record(expired);
      }
      return this.storeCopy(challengeId, message.value!, earlier.unstored);
    }
    if (earlier.unpublished) await this.publishAgain(challengeId, position, message);
  }

  /**
   * Publishes a result whose publication failed, unless it was written all the same (a send fails
   * with its records written when its answer is lost with the connection, or beside a partition that
   * failed): the results topic is read up to now first, and what the ledger learns from it stands.
   */
  private async publishAgain(
    challengeId: string,
    position: RequestPosition,
    hold: Pick<Hold, 'withoutSlot'>,
  ): Promise<void> {
    // Without its slot: after a broker restart the follower may take seconds to read that far.
    if (!(await hold.withoutSlot(() => this.publishedResults.resultsReadToNow())))
      this.logger.warn(
        `challenge ${challengeId}: the results topic could not be read up to now; publishing its result again, maybe a second copy`,
      );
    const entry = this.ledger.get(challengeId);
    if (entry?.state === 'done' && entry.unpublished) await this.publish(entry.unpublished, position);
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
    hold: Hold,
    parked: ParkedState | undefined,
  ): Promise<PushResultEvent | Parking> {
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
      attempts: parked?.attempts ?? 0,
      requested_at: isNaN(requestedAt.getTime()) ? null : requestedAt.toISOString(),
      completed_at: new Date().toISOString(),
      ...fields,
    });

    const expiresAt = new Date(request.expires_at).getTime();
    if (expiresAt <= Date.now())
      return parked
        ? result('expired', {
            reason: `expired_while_retrying: ${parked.lastFailure}`,
            attempts: parked.attempts,
            retryable: true,
          })
        : result('expired', { reason: 'expired_before_send' });
    if (expiresAt > Date.now() + MAX_CHALLENGE_TTL_MS)
      return result('rejected', {
        reason: `invalid_request: expires_at is more than ${MAX_CHALLENGE_TTL_MS / 60_000} minutes ahead`,
      });
    const rejection = this.check(request, clients);
    if (rejection) return result('rejected', rejection);

    const strategy = clients!.config.settings.strategy;
    const values =
      strategy === 'code'
        ? this.numberMatching.offeredValues(request.challenge_id, request.code!, request.values)
        : undefined;
    const notification = challengeNotification(request, strategy, values);
    // Sent, it would fail for good at the provider as a malformed push; it is the request that is too long.
    const bytes = payloadBytes(notification);
    if (bytes > MAX_PAYLOAD_BYTES[provider])
      return result('rejected', {
        reason: `invalid_request: the push would carry ${bytes} bytes, over the ${MAX_PAYLOAD_BYTES[provider]} ${provider === 'apns' ? 'APNs' : 'FCM'} accepts; shorten message.title, message.body, message.locale, context or context_token`,
      });

    let attempts = parked?.attempts ?? 0;
    let last: SendOutcome | undefined = parked && {
      ok: false,
      reason: 'provider_error',
      retryable: true,
      detail: parked.lastFailure,
    };
    // Parked after a failed attempt: the wait it would have had in place.
    if (parked)
      await this.sleepWithHeartbeat(nextAttemptDelayMs(attempts, parked.retryAt, expiresAt), hold, true);
    /**
     * An SDK call that outlived our timeout, which may still deliver (a late answer, node-apn's own
     * retries): the next attempt waits for it instead of pushing again. With its clients' version, and
     * when it counts as lost (the sender's worst case).
     */
    let unfinished: { call: Promise<SendOutcome>; version: number; lostAt: number } | undefined;
    const sent = (outcome: SendOutcome & { ok: true }, version: number, attemptsMade: number) =>
      result('sent', {
        attempts: attemptsMade,
        config_version: version,
        provider_message_id: outcome.providerMessageId,
      });
    let lastVersion = clients!.version;
    while (Date.now() < expiresAt) {
      // Another replica answered this very request (its copy of a parked request, after a rebalance):
      // a second push would reach the phone twice, and a second result contradict the first.
      if (this.ledger.resultSeenWhileRunning(request.challenge_id))
        throw new AnsweredElsewhere(request.challenge_id);
      attempts += 1;
      // Each attempt takes the tenant's current clients, so a retry after a key change uses the new key,
      // and one after the admin disabled or narrowed the configuration is refused for the same reasons.
      const current = this.registry.get(tenant);
      const refused = this.check(request, current);
      if (refused || !current) {
        // "rejected" says nothing was pushed: a call still under way answers first, as it may yet deliver.
        const late = unfinished && (await this.finished(unfinished, hold.heartbeat));
        if (late?.ok) return sent(late, unfinished!.version, attempts - 1);
        return result('rejected', { ...refused, attempts: attempts - 1 });
      }
      const sender = current.sender(provider)!;
      // The lease covers the whole SDK call, also past our timeout, so a swap never closes a session under it.
      const lostAt = unfinished?.lostAt ?? Date.now() + sender.longestCallMs;
      // Every call after a challenge's first, in place or from its parked copy, as it is made (waiting
      // for one still under way makes none).
      if (attempts > 1 && !unfinished) this.metrics.retries.inc({ provider });
      const call = unfinished?.call ?? asOutcome(current.use(() => sender.send(notification)));
      // The version whose clients made the call: an unfinished one may predate a key change.
      lastVersion = unfinished?.version ?? current.version;
      const stopTimer = this.metrics.providerLatency.startTimer({ provider });
      const timedOut = await this.settlesWithin(call, hold.heartbeat);
      unfinished = timedOut ? { call, version: lastVersion, lostAt } : undefined;
      last = timedOut
        ? { ok: false, reason: 'provider_error', retryable: true, detail: 'send timed out' }
        : await call;
      stopTimer({ outcome: last.ok ? 'ok' : last.reason });
      if (last.ok) return sent(last, current.version, attempts);
      if (!last.retryable) break;
      // Asked to wait past the expiry: the caller learns it now, not at expiry, and can offer another factor.
      if (last.retryAt !== undefined && last.retryAt >= expiresAt)
        return result('failed', {
          reason: 'provider_throttled',
          detail: `${last.detail}; no attempt before ${new Date(last.retryAt).toISOString()}, after expires_at`,
          retryable: true,
          attempts,
        });
      // Not with a call still under way: a retry elsewhere could push while it may yet deliver. Nor
      // once the partition went: its new owner has the request, and pushes it. (A heartbeat failing
      // otherwise, in a rebalance that may leave the partition here, parks: its copy is known to all.)
      // A copy is parked again too: retried in place until it expires (up to 15 minutes), it would
      // hold back the commits of the copies behind it in its partition all that time, and after a
      // hand-over the new owner would rest on its ledger still remembering all of their results.
      if (!unfinished && this.config.dispatcher.parkRetries) {
        // A copy of it with no result to come would be pushed again: another replica answered it.
        if (this.ledger.resultSeenWhileRunning(request.challenge_id))
          throw new AnsweredElsewhere(request.challenge_id);
        await hold.heartbeat().catch((error: Error) => {
          if (error instanceof PartitionHandedOverError) throw error;
        });
        return { park: { attempts, lastFailure: last.detail, retryAt: last.retryAt } };
      }
      // Leaving with a call still under way would let the next owner push while it may yet deliver.
      if (this.stopping && !unfinished)
        throw new Error(`shutting down: challenge ${request.challenge_id} left for another replica`);
      const wait = nextAttemptDelayMs(attempts, last.retryAt, expiresAt);
      const detail = last.detail;
      this.recurring.write(`retry:${provider}:${failureKind(detail)}`, (leftOut) =>
        this.logger.warn(
          `challenge ${request.challenge_id}: attempt ${attempts} failed (${detail}); retrying in ${wait} ms${RateLimitedLog.leftOutNote(leftOut)}`,
        ),
      );
      await this.sleepWithHeartbeat(wait, hold, !unfinished);
    }
    // Expired with a call under way, made before the expiry: if it delivers, the push was sent.
    if (unfinished) {
      last = await this.finished(unfinished, hold.heartbeat);
      if (last.ok) return sent(last, unfinished.version, attempts);
    }
    if (!last || last.ok) return result('expired', { reason: 'expired_before_send', attempts });
    if (last.retryable)
      return result('expired', {
        reason: `expired_while_retrying: ${last.detail}`,
        attempts,
        retryable: true,
      });
    if (last.credentialsRefused) await this.reportRefusedCredentials(tenant, provider, lastVersion, last);
    if (last.reason === 'device_token_mismatch') {
      const detail = last.detail;
      this.recurring.write(`mismatch:${tenant}:${provider}`, (leftOut) =>
        this.logger.warn(
          `tenant ${tenant}: ${provider} refused a device token for this configuration (${detail}); if many devices get this, check the configuration's ${provider === 'apns' ? 'bundle_id and production' : 'project_id'}${RateLimitedLog.leftOutNote(leftOut)}`,
        ),
      );
    }
    return result('failed', { reason: last.reason, detail: last.detail, attempts });
  }

  private async reportRefusedCredentials(
    tenant: string,
    provider: string,
    version: number,
    refusal: Extract<SendOutcome, { ok: false }>,
  ): Promise<void> {
    const error = `${provider === 'apns' ? 'APNs' : 'FCM'} refused the credentials (${refusal.detail}); ${refusal.remedy}`;
    this.recurring.write(`refused:${tenant}:${provider}`, (leftOut) =>
      this.logger.error(`tenant ${tenant}: ${error}${RateLimitedLog.leftOutNote(leftOut)}`),
    );
    const outcome = this.registry.refusalToReport(tenant, version, error);
    if (!outcome) return;
    // A failed report fails the challenge's handling too: it is redelivered and reported again.
    await this.publisher.reportApplied(tenant, outcome);
    this.registry.remember(tenant, outcome);
  }

  private check(request: PushRequestedEvent, clients: TenantClients | undefined): Rejection | undefined {
    if (!clients) return { reason: 'mfa_not_configured' };
    if (!clients.enabled) return { reason: 'mfa_disabled' };
    const { settings } = clients.config;
    if (!settings.enabled_clients.includes(request.client_id)) return { reason: 'client_not_enabled' };
    if (!clients.sender(request.device.provider)) return { reason: 'provider_not_configured' };
    if (request.strategy && request.strategy !== settings.strategy)
      return { reason: `strategy_mismatch: the tenant uses ${settings.strategy}` };
    const problem = settings.strategy === 'code' ? numberMatchingProblem(request) : undefined;
    return problem ? { reason: `invalid_request: ${problem}` } : undefined;
  }

  /**
   * True when the call did not settle within the send timeout (or by `until`). It heartbeats meanwhile (kafkajs has no
   * background heartbeat): a slow provider must not cost the replica its group membership. A failed
   * heartbeat does not end the wait: leaving mid-call would let another replica push a second time.
   */
  private async settlesWithin(
    call: Promise<SendOutcome>,
    heartbeat: () => Promise<void>,
    until = Date.now() + this.config.dispatcher.sendTimeoutMs,
  ): Promise<boolean> {
    const settled = call.then(() => false);
    while (Date.now() < until) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<true>((resolve) => {
        timer = setTimeout(() => resolve(true), Math.min(HEARTBEAT_EVERY_MS, until - Date.now()));
      });
      const timedOut = await Promise.race([settled, tick]);
      clearTimeout(timer);
      if (!timedOut) return false;
      await heartbeat().catch(() => undefined);
    }
    return true;
  }

  /**
   * Waits, heartbeating, for a call that outlived its timeout, until the sender's worst case for it
   * (`longestCallMs` from its start) has passed; one still running then counts as timed out.
   */
  private async finished(
    { call, lostAt }: { call: Promise<SendOutcome>; lostAt: number },
    heartbeat: () => Promise<void>,
  ): Promise<SendOutcome> {
    if (!(await this.settlesWithin(call, heartbeat, lostAt))) return call;
    return { ok: false, reason: 'provider_error', retryable: true, detail: 'send timed out' };
  }

  /** Waits between attempts, without holding a slot of the partition. */
  private sleepWithHeartbeat(ms: number, hold: Hold, mayLeave: boolean): Promise<void> {
    return hold.withoutSlot(async () => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        // A provider's Retry-After can be minutes: a shutdown does not wait for it, the message stays for another replica.
        if (mayLeave && this.stopping)
          throw new Error('shutting down: the retry is left for another replica');
        await new Promise((resolve) => setTimeout(resolve, Math.min(HEARTBEAT_EVERY_MS, until - Date.now())));
        // A failed heartbeat (a rebalance) ends the handler: another member will own this message. Not
        // while a timed-out call may still deliver: then this replica sees the challenge through.
        await hold.heartbeat().catch((error: Error) => {
          if (mayLeave) throw error;
        });
      }
    });
  }

  private async deadLetter(message: IncomingPushRequest, reason: string): Promise<void> {
    const challengeId = readableChallengeId(message);
    const earlier = challengeId ? this.ledger.get(challengeId) : undefined;
    // Redelivered after its letter was written but its rejection could not be published: only that is left.
    if (earlier?.state === 'done' && earlier.unpublished && earlier.position === positionOf(message))
      return this.publishAgain(challengeId!, earlier.position, message);
    this.logger.warn(
      `push request at ${message.topic}/${message.partition}@${message.offset} is invalid: ${reason}`,
    );
    await this.publisher.publishDeadLetter({
      reason,
      original_key: keptText(message.key === null ? null : Buffer.from(message.key), MAX_KEPT_KEY_BYTES),
      original_value: keptText(message.value, MAX_KEPT_ORIGINAL_BYTES),
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      failed_at: new Date().toISOString(),
    });
    // A challenge that has (or will have) its result gets no second one.
    if (challengeId && !earlier) {
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

/** A run of a challenge whose result another replica published meanwhile: it ends without a result. */
class AnsweredElsewhere extends Error {
  constructor(challengeId: string) {
    super(`challenge ${challengeId}: another replica published its result`);
  }
}

/**
 * The kind of a provider's failure, from its text's first word ("503", "messaging/server-unavailable",
 * "send timed out"'s "send"): recurring lines are limited per kind, so a new kind still shows at once.
 */
function failureKind(detail: string): string {
  return detail.split(/[\s:]/, 1)[0].slice(0, 48);
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
 * A key or value as a dead letter keeps it: whole up to `maxBytes`, else its beginning. A letter must
 * stay under the broker's message limit (1 MB): one near the limit (bytes that are not UTF-8 grow
 * threefold as text) would fail to publish and hold its partition forever. The letter names the
 * original's position, where it can still be read whole.
 */
function keptText(bytes: Buffer | null, maxBytes: number): string | null {
  if (!bytes) return null;
  if (bytes.length <= maxBytes) return bytes.toString();
  return `${bytes.subarray(0, maxBytes).toString()}…[truncated: ${bytes.length} bytes in all]`;
}

/** Where a message sits, for the log. */
function describe(message: IncomingPushRequest): string {
  return `message at ${message.topic}/${message.partition}@${message.offset}`;
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
