/**
 * The benchmark's second process: the loopback APNs and FCM peers (test/peers), driven over IPC by
 * the load generator, so the peers' work never shares a CPU thread with the dispatcher or the generator.
 */
import { ApnsPeer } from '../test/peers/apns-peer';
import { FcmPeer } from '../test/peers/fcm-peer';
import type { PeerCommand, PeerFaults, PeerReply } from './support/peers';

async function main(): Promise<void> {
  const [apns, fcm] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
  // Only what the benchmark reads is kept in each reply: the peers may hold 100,000 requests.
  const handle = (command: PeerCommand): unknown => {
    switch (command.cmd) {
      case 'endpoints':
        return { apnsEndpoint: `${apns.host}:${apns.port}`, fcmUrl: fcm.url, caPem: apns.caPem };
      case 'trust':
        for (const key of command.apnsKeys) apns.registerKey(key.keyId, key.teamId, key.publicPem);
        for (const topic of command.topics) apns.allowTopic(topic.teamId, topic.bundleId);
        for (const account of command.serviceAccounts)
          fcm.registerServiceAccount(account.clientEmail, account.publicPem, account.projectId);
        return null;
      case 'faults':
        if (command.provider !== 'fcm') injectFaults(apns, command, (f) => [f.reason]);
        if (command.provider !== 'apns')
          injectFaults(fcm, command, (f) => [googleStatus(f.status, f.reason)]);
        return null;
      case 'counts':
        return {
          apns: countDelivered(apns.received),
          fcm: countDelivered(fcm.received),
          sessions: apns.openSessions,
        };
      case 'arrivals':
        return {
          apns: apns.received
            .filter((d) => d.status === 200)
            .map((d) => [String(d.payload?.challenge_id), d.receivedAt, d.keyId]),
          fcm: fcm.received
            .filter((d) => d.status === 200)
            .map((d) => [String(d.message?.data?.challenge_id), d.receivedAt, '']),
        };
      case 'clear':
        apns.clear();
        fcm.clear();
        return null;
    }
  };
  process.on('message', (message: { id: number; command: PeerCommand }) => {
    let reply: PeerReply;
    try {
      reply = { id: message.id, result: handle(message.command) };
    } catch (error) {
      reply = { id: message.id, error: (error as Error).message };
    }
    process.send!(reply);
  });
  process.on(
    'disconnect',
    () => void Promise.allSettled([apns.stop(), fcm.stop()]).then(() => process.exit(0)),
  );
  process.send!({ id: 0, result: 'ready' });
}

/** What both peers offer for faults; failNext's trailing arguments differ (APNs reason, Google status). */
interface FaultablePeer {
  clearFaults(): void;
  setDelay(ms: number): void;
  resetConnectionsNext(count: number): void;
  failNext(count: number, status: number, detail: string, options: { retryAfterSeconds?: number }): void;
}

function injectFaults(
  peer: FaultablePeer,
  faults: PeerFaults,
  detail: (fault: NonNullable<PeerFaults['failNext']>) => [string],
): void {
  if (faults.clear) peer.clearFaults();
  if (faults.delayMs !== undefined) peer.setDelay(faults.delayMs);
  if (faults.resets) peer.resetConnectionsNext(faults.resets);
  if (faults.failNext)
    peer.failNext(faults.failNext.count, faults.failNext.status, ...detail(faults.failNext), {
      retryAfterSeconds: faults.failNext.retryAfterSeconds,
    });
}

/** Google's status for an HTTP status, unless the caller named one (an upper-case word). */
function googleStatus(status: number, reason: string): string {
  if (/^[A-Z_]+$/.test(reason)) return reason;
  return status === 429 ? 'RESOURCE_EXHAUSTED' : status === 503 ? 'UNAVAILABLE' : 'INTERNAL';
}

function countDelivered(received: { status: number }[]): number {
  let delivered = 0;
  for (const request of received) if (request.status === 200) delivered++;
  return delivered;
}

main().catch((error: Error) => {
  process.stderr.write(`[bench peers] ${error.message}\n`);
  process.exit(1);
});
