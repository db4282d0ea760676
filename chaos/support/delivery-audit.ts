import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { PushRequestedEvent, PushResultEvent } from '@lib/contracts';
import type { PeersProcess } from '../../bench/support/peers';
import { topicSize } from '../../test/support/topic-reader';
import type { Figure } from './figures';
import { sleep } from './chaos-context';

export interface ReadRecord {
  key: string;
  value: string;
  partition: number;
}

/**
 * Reads a whole topic, up to its end when called, with a fresh consumer: after the faults, what is
 * really on the broker, not what a long-lived watcher happened to see.
 */
export async function readTopic(kafka: Kafka, topic: string, timeoutMs = 120_000): Promise<ReadRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const remaining = new Map(
    ends
      .filter(({ high, low }) => Number(high) > Number(low))
      .map(({ partition, high }) => [partition, Number(high)]),
  );
  const records: ReadRecord[] = [];
  if (remaining.size === 0) return records;
  const consumer = kafka.consumer({ groupId: `chaos-audit-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            const end = remaining.get(batch.partition);
            if (end === undefined || Number(message.offset) >= end) continue;
            records.push({
              key: message.key?.toString() ?? '',
              value: message.value?.toString() ?? '',
              partition: batch.partition,
            });
            if (Number(message.offset) + 1 >= end) remaining.delete(batch.partition);
          }
          if (remaining.size === 0) resolve();
        },
      });
    });
    const timedOut = await Promise.race([done.then(() => false), sleep(timeoutMs).then(() => true)]);
    if (timedOut) throw new Error(`reading ${topic} did not finish within ${timeoutMs} ms`);
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Waits until `topic` holds at least `count` messages and then stops growing; false on timeout. */
export async function waitForTopicSize(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const size = await topicSize(kafka, topic).catch(() => 0);
    if (size >= count) {
      // Late duplicates, if any, are counted too.
      await sleep(2000);
      return true;
    }
    await sleep(250);
  }
  return false;
}

/** What happened to a set of push requests: their results on the broker and the pushes the peers got. */
export interface Accounting {
  requested: number;
  withoutResult: number;
  /** The first of them (at most 20), to look for in the dispatchers' logs. */
  withoutResultIds: string[];
  withSeveralResults: number;
  /** Of those, the ones whose copies are all the same record (one result published again), and an example. */
  severalIdentical: number;
  severalExample?: string;
  /** Challenges the peers accepted more than once. */
  deliveredTwice: number;
  statuses: Record<string, number>;
  results: Map<string, PushResultEvent>;
}

export async function account(
  kafka: Kafka,
  resultsTopic: string,
  peers: PeersProcess,
  requests: PushRequestedEvent[],
): Promise<Accounting> {
  const copies = new Map<string, number>();
  const results = new Map<string, PushResultEvent>();
  /** Per challenge, the distinct records seen (a result published twice is the same record). */
  const versions = new Map<string, Set<string>>();
  for (const record of await readTopic(kafka, resultsTopic)) {
    copies.set(record.key, (copies.get(record.key) ?? 0) + 1);
    results.set(record.key, JSON.parse(record.value) as PushResultEvent);
    versions.set(record.key, (versions.get(record.key) ?? new Set()).add(record.value));
  }
  const arrivals = await peers.arrivals();
  const pushes = new Map<string, number>();
  for (const [challengeId] of [...arrivals.apns, ...arrivals.fcm])
    pushes.set(challengeId, (pushes.get(challengeId) ?? 0) + 1);
  const statuses: Record<string, number> = {};
  const withoutResultIds: string[] = [];
  let withSeveralResults = 0;
  let severalIdentical = 0;
  let severalExample: string | undefined;
  let deliveredTwice = 0;
  for (const { challenge_id: id } of requests) {
    const result = results.get(id);
    if (!result) withoutResultIds.push(id);
    else statuses[result.status] = (statuses[result.status] ?? 0) + 1;
    if ((copies.get(id) ?? 0) > 1) {
      withSeveralResults++;
      if (versions.get(id)!.size === 1) severalIdentical++;
      severalExample ??= id;
    }
    if ((pushes.get(id) ?? 0) > 1) deliveredTwice++;
  }
  return {
    requested: requests.length,
    withoutResult: withoutResultIds.length,
    withoutResultIds: withoutResultIds.slice(0, 20),
    withSeveralResults,
    severalIdentical,
    severalExample,
    deliveredTwice,
    statuses,
    results,
  };
}

/** The figures every fault scenario reports about its requests. */
export function accountingFigures(scenario: string, accounting: Accounting, label = ''): Figure[] {
  const prefix = label ? `${label}: ` : '';
  const statuses = Object.entries(accounting.statuses)
    .map(([status, count]) => `${status} ${count}`)
    .join(', ');
  return [
    { scenario, name: `${prefix}push requests`, value: accounting.requested, note: statuses },
    {
      scenario,
      name: `${prefix}requests with no result`,
      value: accounting.withoutResult,
      expect: 'zero',
      ...(accounting.withoutResult > 0 && { note: `e.g. ${accounting.withoutResultIds.join(', ')}` }),
    },
    {
      scenario,
      name: `${prefix}challenges with more than one result`,
      value: accounting.withSeveralResults,
      expect: 'zero',
      ...(accounting.withSeveralResults > 0 && {
        note: `${accounting.severalIdentical} of them the same record again (a publish sent again); e.g. ${accounting.severalExample}`,
      }),
    },
    {
      scenario,
      name: `${prefix}pushes delivered more than once`,
      value: accounting.deliveredTwice,
      expect: 'target-zero',
    },
  ];
}

/**
 * Waits until the dispatcher reports (mfa.config.applied) that `version` or a later one of the
 * configuration `key` (tenant/type) is live; a failed apply does not count. When it was seen, or
 * undefined on timeout.
 */
export async function waitForApplied(
  kafka: Kafka,
  topic: string,
  key: string,
  version: number,
  timeoutMs = 120_000,
): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const reports = await readTopic(kafka, topic).catch(() => []);
    const applied = reports.some((report) => {
      if (report.key !== key) return false;
      const { version: live, status } = JSON.parse(report.value) as { version: number; status: string };
      return status === 'applied' && live >= version;
    });
    if (applied) return Date.now();
    await sleep(500);
  }
  return undefined;
}
