import { MfaConfiguration, parseApnsKey, parseFcmPrivateKey } from '@lib/mfa-config';
import type { PushSender } from '../senders/push-sender';
import type { SenderFactory } from '../senders/sender-factory';

/**
 * One version of one tenant's configuration with its senders. Senders are cheap objects until their
 * first send opens a network session. Retiring waits for in-flight sends before closing anything.
 */
export class TenantClients {
  private readonly senders: Partial<Record<'apns' | 'fcm', PushSender>> = {};
  private inFlight = 0;
  private retired = false;
  private onDrained?: () => void;

  constructor(
    readonly tenant: string,
    readonly version: number,
    readonly config: MfaConfiguration,
    factory: SenderFactory,
    { checkKeys = true } = {},
  ) {
    if (!config.enabled) return;
    if (checkKeys) this.checkKeys();
    if (config.settings.apns) this.senders.apns = factory.apns(config.settings.apns);
    if (config.settings.fcm) this.senders.fcm = factory.fcm(config.settings.fcm);
  }

  /**
   * Parses the keys, throwing if one is broken: done when a configuration is applied, so a broken key
   * fails the apply (and is reported) instead of a user's push. About 0.5 ms per key (OpenSSL).
   */
  checkKeys(): void {
    if (!this.config.enabled) return;
    const { apns, fcm } = this.config.settings;
    if (apns) parseApnsKey(apns.key);
    if (fcm) parseFcmPrivateKey(fcm.private_key);
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  sender(provider: 'apns' | 'fcm'): PushSender | undefined {
    return this.senders[provider];
  }

  /** Runs one send against this version; a swap meanwhile waits for it to finish. */
  async use<T>(send: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    try {
      return await send();
    } finally {
      this.inFlight -= 1;
      if (this.retired && this.inFlight === 0) this.onDrained?.();
    }
  }

  async retire(): Promise<void> {
    this.retired = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.onDrained = resolve));
    await Promise.allSettled(Object.values(this.senders).map((sender) => sender.close()));
  }

  /** Closes network sessions unused for longer than idleMs; the next send reopens them. */
  async closeIdleSessions(now: number, idleMs: number): Promise<void> {
    if (this.inFlight > 0) return;
    const idle = Object.values(this.senders).filter((sender) => sender.idleFor(now) > idleMs);
    await Promise.allSettled(idle.map((sender) => sender.closeIdleSession()));
  }
}
