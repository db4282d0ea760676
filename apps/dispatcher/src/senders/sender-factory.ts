import { Inject, Injectable } from '@nestjs/common';
import type { ClientRequest } from 'node:http';
import type { Agent } from 'node:https';
import { APP_CONFIG, AppConfig } from '@lib/config';
import type { ApnsSettings, FcmSettings } from '@lib/mfa-config';
import { ApnsProviderTokens } from './apns-provider-tokens';
import { ApnsSender } from './apns-sender';
import { checkSdkRetriesCanBeTurnedOff, FcmSender } from './fcm-sender';
import { FCM_SOCKETS, ProviderAgent, SandboxRedirectAgent } from './provider-agent';
import { FcmRetryAfter } from './retry-after';
import { SendSlots } from './send-slots';

/** Builds the per-configuration senders: cheap objects until their first send (keys: see TenantClients). */
@Injectable()
export class SenderFactory {
  /** Shared by every FCM sender: pooled sockets to Google, whatever the tenant. */
  private readonly fcmAgent: Agent;
  /** What FCM answered to the requests of that agent, for the senders. */
  private readonly fcmRetryAfter = new FcmRetryAfter();
  /** FCM sends in flight, across senders: one per socket of the agent. */
  private readonly fcmSlots = new SendSlots(FCM_SOCKETS);
  /** One APNs provider token per key, whatever number of senders use it. */
  private readonly apnsTokens = new ApnsProviderTokens();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    checkSdkRetriesCanBeTurnedOff();
    const { sandbox } = config;
    const watch = (request: ClientRequest) => this.fcmRetryAfter.watch(request);
    this.fcmAgent = sandbox.fcmEndpoint
      ? new SandboxRedirectAgent(hostAndPort(sandbox.fcmEndpoint), sandbox.caPem, watch)
      : new ProviderAgent(watch);
  }

  apns(settings: ApnsSettings): ApnsSender {
    return new ApnsSender(
      settings,
      this.config.sandbox,
      this.config.dispatcher.sendTimeoutMs,
      this.apnsTokens,
    );
  }

  fcm(settings: FcmSettings): FcmSender {
    return new FcmSender(settings, this.fcmAgent, this.fcmRetryAfter, {
      slots: this.fcmSlots,
      // Half an attempt's time: a send that gets no socket fails unsent within its attempt, and the
      // caller takes it as a plain failure (parked, retried), not as a call still under way.
      waitMs: this.config.dispatcher.sendTimeoutMs / 2,
    });
  }
}

function hostAndPort(endpoint: string): { host: string; port: number } {
  const url = new URL(endpoint);
  return { host: url.hostname, port: Number(url.port || 443) };
}
