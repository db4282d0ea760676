/**
 * push-abuse: raw messages no requesting service should produce (no value, not JSON, wrong types,
 * missing or extra fields, oversize, deep nesting, prototype keys, unknown tenants and clients, expired
 * or far-future challenges, reused challenge ids, odd unicode), several of each, interleaved with
 * valid requests on the push request topic. Each must end in the dead-letter topic or in a rejected
 * or expired result and never reach a phone; the valid ones around them must all be sent.
 */
import { randomBytes } from 'node:crypto';
import { Partitioners, Producer } from 'kafkajs';
import type { PushDeadLetter, PushRequestedEvent, PushResultEvent } from '@lib/contracts';
import { requestsFor, strategyOf } from '../../bench/support/context';
import type { AppProcess } from '../../bench/support/processes';
import { apnsDeviceToken } from '../../test/fixtures/push-request.builder';
import { ApiClient } from '../support/api-client';
import { ChaosContext, ChaosSize, log, sleep } from '../support/chaos-context';
import { topicSize } from '../../test/support/topic-reader';
import { readTopic } from '../support/delivery-audit';
import type { Figure } from '../support/figures';
import { pushTimes, waitForDelivered } from '../support/requests';
import { PreparedScenario, prepareScenario } from '../support/setup';

const SCENARIO = 'push-abuse';
const SETTLE_TIMEOUT_MS = 90_000;
/** Both outcome topics unchanged this long: the dispatcher is done (or stuck). */
const QUIET_MS = 4000;
const NESTING_DEPTH = 100_000;
const OVERSIZE_BYTES = 900_000;
const HUGE_ARRAY_LENGTH = 100_000;
const ENDED_UNSENT = new Set<PushResultEvent['status']>(['rejected', 'expired']);

type RawValue = string | Buffer | null;
type Body = Record<string, unknown>;

/** How one kind of abuse turns a valid request (copy `n` of its kind) into a raw message value. */
interface Abuse {
  kind: string;
  build: (valid: PushRequestedEvent, n: number) => RawValue;
  /** Produced without a key (round-robin partition), as a careless producer would. */
  keyless?: boolean;
}

/** A message as produced, and where it landed. */
interface Produced {
  kind: string;
  valid: boolean;
  /** The challenge id a result for it would carry: the valid request it was made from. */
  challengeId: string;
  position: string;
}

/** What the dispatcher left on the broker and at the peers. */
interface Outcomes {
  /** By the position of the message they name. */
  deadLetters: Map<string, PushDeadLetter>;
  deadLetterCopies: Map<string, number>;
  results: Map<string, PushResultEvent>;
  resultCopies: Map<string, number>;
  pushes: Map<string, number[]>;
}

export async function pushAbuse(ctx: ChaosContext, size: ChaosSize): Promise<Figure[]> {
  const prepared = await prepareScenario(ctx, SCENARIO);
  // Each dead letter's reason is logged at warn: megabytes a line for a 100,000-item array, again
  // on every redelivery. Errors still show.
  const dispatcher = await ctx.startDispatcher(SCENARIO, prepared.database, { LOG_LEVEL: 'error' });
  const copies = size.reduced ? 3 : 10;
  const sequence = interleave(prepared.tenants, copies);
  const produced = await produceRaw(ctx, prepared, sequence);
  const validCount = produced.filter((message) => message.valid).length;
  log(`${SCENARIO}: ${produced.length - validCount} abusive and ${validCount} valid messages produced`);
  await waitUntilSettled(ctx, prepared, validCount);
  const outcomes = await readOutcomes(ctx, prepared);
  const figures = [...judge(produced, outcomes), await readinessFigure(dispatcher)];
  await dispatcher.stop();
  return figures;
}

// ---------------------------------------------------------------------------------------------------
// The abuse, each kind made from a valid request of its own.

const json = (value: unknown) => JSON.stringify(value);

/** The valid request with fields set (`undefined` removes one); paths like 'device.token'. */
function edited(valid: PushRequestedEvent, changes: Record<string, unknown>): string {
  const body = structuredClone(valid) as unknown as Body;
  for (const [path, value] of Object.entries(changes)) {
    const names = path.split('.');
    const last = names.pop()!;
    let node = body;
    for (const name of names) node = (node[name] ??= {}) as Body;
    if (value === undefined) delete node[last];
    else node[last] = value;
  }
  return json(body);
}

/** The valid request's JSON text with raw members added first (keys JSON.stringify cannot write). */
const withRawMembers = (valid: PushRequestedEvent, members: string) =>
  json(valid).replace(/^\{/, `{${members},`);

const nested = (open: string, close: string, inner = '1') =>
  `${open.repeat(NESTING_DEPTH)}${inner}${close.repeat(NESTING_DEPTH)}`;

const WRONG_TYPES: [string, unknown][] = [
  ['challenge_id', 12345],
  ['tenant', 42],
  ['client_id', ['web-login']],
  ['strategy', 'both'],
  ['code', 7],
  ['values', '1,2,3'],
  ['device', 'apns'],
  ['device.provider', 'webpush'],
  ['device.token', 12345],
  ['message', 'hello'],
  ['context', []],
  ['context_token', {}],
  ['expires_at', Date.now() + 60_000],
  ['expires_at', 'tomorrow'],
  ['expires_at', '2026-13-45T99:99:99Z'],
];

const REQUIRED = ['challenge_id', 'client_id', 'device', 'expires_at', 'device.provider', 'device.token'];

function abuses(tenants: string[]): Abuse[] {
  // tenants[0] uses number matching, tenants[1] prompts (strategyOf).
  const [codeTenant, promptTenant] = tenants;
  const variant = <T>(n: number, ...values: T[]) => values[n % values.length];
  return [
    { kind: 'no value (tombstone)', build: () => null },
    { kind: 'empty value', build: () => '' },
    {
      kind: 'not JSON',
      build: (v, n) => variant(n, `{"challenge_id":"${v.challenge_id}",`, 'undefined', `\uFEFF${json(v)}`),
    },
    { kind: 'binary garbage', build: () => randomBytes(512), keyless: true },
    { kind: 'JSON array', build: (v) => json([v]) },
    { kind: 'JSON scalar', build: (_, n) => variant(n, '42', '"push"', 'null', 'true') },
    ...WRONG_TYPES.map(([path, value]) => ({
      kind: `wrong type: ${path}`,
      build: (v: PushRequestedEvent) => edited(v, { [path]: value }),
    })),
    ...REQUIRED.map((path) => ({
      kind: `missing: ${path}`,
      build: (v: PushRequestedEvent) => edited(v, { [path]: undefined }),
    })),
    {
      kind: 'extra field',
      build: (v, n) => edited(v, { [variant(n, 'priority', 'device.topic', 'message.html')]: 'x' }),
    },
    {
      kind: '__proto__ / constructor keys',
      build: (v, n) =>
        variant(
          n,
          withRawMembers(v, '"__proto__":{"client_id":"web-login","polluted":true}'),
          withRawMembers(v, '"constructor":{"prototype":{"polluted":true}}'),
          json(v).replace('"device":{', '"device":{"__proto__":{"provider":"fcm"},'),
        ),
    },
    {
      kind: 'deep nesting',
      build: (v, n) => withRawMembers(v, `"nesting":${variant(n, nested('[', ']'), nested('{"a":', '}'))}`),
    },
    {
      kind: 'deep nesting in values',
      build: (v) => edited(v, { values: [[[]]] }).replace('[[[]]]', `[${nested('[', ']')}]`),
    },
    {
      kind: `oversize ~${OVERSIZE_BYTES / 1000} KB JSON`,
      build: (v) => edited(v, { 'message.body': 'x'.repeat(OVERSIZE_BYTES) }),
    },
    { kind: `oversize ~${OVERSIZE_BYTES / 1000} KB binary`, build: () => randomBytes(OVERSIZE_BYTES) },
    {
      kind: `huge values array (${HUGE_ARRAY_LENGTH} items)`,
      build: (v, n) =>
        edited(v, {
          values: Array.from({ length: HUGE_ARRAY_LENGTH }, (_, i) =>
            variant<unknown>(n, String(i % 1000), 'x', i),
          ),
        }),
    },
    { kind: 'unknown tenant', build: (v) => edited(v, { tenant: 'ghost-tenant' }) },
    { kind: 'no tenant (default not configured)', build: (v) => edited(v, { tenant: undefined }) },
    { kind: 'client not enabled', build: (v) => edited(v, { client_id: 'rogue-client' }) },
    {
      kind: 'strategy mismatch',
      build: (v) => edited(v, { tenant: promptTenant, strategy: 'code', code: '12' }),
    },
    {
      kind: 'number matching without code',
      build: (v) => edited(v, { tenant: codeTenant, code: undefined }),
    },
    {
      kind: 'values without the code',
      build: (v) => edited(v, { tenant: codeTenant, code: '12', values: ['1', '2', '3'] }),
    },
    { kind: 'expired', build: (v) => edited(v, { expires_at: new Date(Date.now() - 60_000).toISOString() }) },
    {
      kind: 'expires_at a day ahead',
      build: (v) => edited(v, { expires_at: new Date(Date.now() + 86_400_000).toISOString() }),
    },
    {
      kind: 'unicode in identifiers',
      build: (v, n) =>
        edited(
          v,
          variant<Record<string, unknown>>(
            n,
            { challenge_id: `ch-\u0430dmin-${randomBytes(4).toString('hex')}` }, // Cyrillic а
            { tenant: `${codeTenant}\u200b` }, // zero-width space
            { client_id: 'web-login\u202e' }, // right-to-left override
            { 'device.provider': '\u0430pns' },
            { 'message.locale': '\u1e9e-DE' },
          ),
        ),
    },
  ];
}

/** Valid requests whose text is unusual but allowed: these must be sent like any other. */
function withUnicodeText(request: PushRequestedEvent, n: number): PushRequestedEvent {
  const texts = [
    { title: 'Sign in? 🔐 登录 تسجيل الدخول', body: 'Zoë in Zürich — approve ✓' },
    { title: 'e\u0301\u0301\u0301 combining marks', body: 'RTL \u202eevil\u202c and zero\u200bwidth' },
    { title: '🏳️‍🌈👩‍👩‍👧‍👦', body: 'emoji sequences' },
  ];
  return { ...request, message: texts[n % texts.length], context: { location: 'São Paulo, 🇧🇷' } };
}

interface Planned {
  kind: string;
  valid: boolean;
  request: PushRequestedEvent;
  key: string | null;
  value: RawValue;
}

/**
 * The order of production: each abusive message after a valid one, reused ids after the request
 * they copy, and a few valid ones at the end, so a consumer stuck on abuse shows as unsent requests.
 */
function interleave(tenants: string[], copies: number): Planned[] {
  const kinds = abuses(tenants);
  const templates = requestsFor(tenants, kinds.length * copies, ['apns', 'fcm'], strategyOf);
  const abusive: Planned[] = templates.map((template, i) => {
    const abuse = kinds[i % kinds.length];
    const n = Math.floor(i / kinds.length);
    const value = abuse.build(template, n);
    const key = abuse.keyless ? null : template.challenge_id;
    return { kind: abuse.kind, valid: false, request: template, key, value };
  });
  const valid = requestsFor(tenants, abusive.length + copies * 2 + 5, ['apns', 'fcm'], strategyOf).map(
    (request, i): Planned => {
      const unusual = i % 7 === 3 ? withUnicodeText(request, i) : request;
      return {
        kind: 'valid',
        valid: true,
        request: unusual,
        key: request.challenge_id,
        value: json(unusual),
      };
    },
  );
  const reused = valid.slice(0, copies * 2).map(reusedId);
  const sequence = [...abusive, ...reused].flatMap((message, i) => [valid[i], message]);
  return [...sequence, ...valid.slice(sequence.length / 2)];
}

/** Another request with the same challenge id (and key): a new device, or the same bytes again. */
function reusedId(original: Planned, n: number): Planned {
  const copy = { ...original.request, device: { provider: 'apns' as const, token: apnsDeviceToken() } };
  const value = n % 2 === 0 ? json(copy) : original.value;
  return { ...original, kind: 'reused challenge id', valid: false, value };
}

// ---------------------------------------------------------------------------------------------------
// Producing, waiting, reading back.

/** One message per send, so each one's partition and offset are known: dead letters name them. */
async function produceRaw(
  ctx: ChaosContext,
  prepared: PreparedScenario,
  sequence: Planned[],
): Promise<Produced[]> {
  const producer = ctx.kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    const produced: Produced[] = [];
    for (const message of sequence) produced.push(await produceOne(producer, prepared, message));
    return produced;
  } finally {
    await producer.disconnect();
  }
}

async function produceOne(
  producer: Producer,
  prepared: PreparedScenario,
  message: Planned,
): Promise<Produced> {
  const [landed] = await producer.send({
    topic: prepared.topics.pushRequested,
    messages: [{ key: message.key, value: message.value }],
  });
  return {
    kind: message.kind,
    valid: message.valid,
    challengeId: message.request.challenge_id,
    position: `${landed.partition}@${landed.baseOffset}`,
  };
}

/** Every valid request pushed, then both outcome topics quiet; a stuck consumer ends it by timeout. */
async function waitUntilSettled(
  ctx: ChaosContext,
  prepared: PreparedScenario,
  validCount: number,
): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  if (!(await waitForDelivered(ctx.peers, validCount, SETTLE_TIMEOUT_MS)))
    log(`${SCENARIO}: not every valid request was pushed within ${SETTLE_TIMEOUT_MS / 1000} s`);
  const { pushResults, pushDeadLetter } = prepared.topics;
  let last = -1;
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    const sizes = (await topicSize(ctx.kafka, pushResults)) + (await topicSize(ctx.kafka, pushDeadLetter));
    if (sizes !== last) [last, quietSince] = [sizes, Date.now()];
    else if (Date.now() - quietSince >= QUIET_MS) return;
    await sleep(500);
  }
}

async function readOutcomes(ctx: ChaosContext, prepared: PreparedScenario): Promise<Outcomes> {
  const deadLetters = new Map<string, PushDeadLetter>();
  const deadLetterCopies = new Map<string, number>();
  for (const record of await readTopic(ctx.kafka, prepared.topics.pushDeadLetter)) {
    const letter = JSON.parse(record.value) as PushDeadLetter;
    const position = `${letter.partition}@${letter.offset}`;
    deadLetters.set(position, letter);
    deadLetterCopies.set(position, (deadLetterCopies.get(position) ?? 0) + 1);
  }
  const results = new Map<string, PushResultEvent>();
  const resultCopies = new Map<string, number>();
  for (const record of await readTopic(ctx.kafka, prepared.topics.pushResults)) {
    results.set(record.key, JSON.parse(record.value) as PushResultEvent);
    resultCopies.set(record.key, (resultCopies.get(record.key) ?? 0) + 1);
  }
  return { deadLetters, deadLetterCopies, results, resultCopies, pushes: await pushTimes(ctx.peers) };
}

// ---------------------------------------------------------------------------------------------------
// The verdict.

function judge(produced: Produced[], outcomes: Outcomes): Figure[] {
  const abusive = produced.filter((message) => !message.valid);
  const valid = produced.filter((message) => message.valid);
  const withoutOutcome = abusive.filter((message) => !hasOutcome(message, outcomes));
  const reused = abusive.filter((message) => message.kind === 'reused challenge id');
  const reusedMissed = reused.filter(
    (message) => !outcomes.deadLetters.get(message.position)?.reason.startsWith('duplicate_challenge_id'),
  );
  const unsent = valid.filter(
    (m) => outcomes.results.get(m.challengeId)?.status !== 'sent' || !outcomes.pushes.has(m.challengeId),
  );
  const severalResults = [...outcomes.resultCopies.values()].filter((copies) => copies > 1).length;
  const severalLetters = [...outcomes.deadLetterCopies.values()].filter((copies) => copies > 1).length;
  const figure = (name: string, value: number, expect?: Figure['expect'], note?: string): Figure => ({
    scenario: SCENARIO,
    name,
    value,
    ...(expect && { expect }),
    ...(note && { note }),
  });
  return [
    figure('abusive messages', abusive.length, undefined, outcomeSummary(abusive, outcomes)),
    figure('abusive requests with no outcome', withoutOutcome.length, 'zero', kindsOf(withoutOutcome)),
    figure('abusive requests pushed to a peer', pushedAbuse(produced, outcomes), 'zero'),
    figure(
      'reused challenge ids not dead-lettered as duplicate_challenge_id',
      reusedMissed.length,
      'zero',
      `of ${reused.length}`,
    ),
    figure('valid requests not sent', unsent.length, 'zero', `of ${valid.length}`),
    figure('challenges with more than one result', severalResults, 'zero'),
    figure('messages dead-lettered more than once', severalLetters, undefined, 'redelivered after a failure'),
  ];
}

/** Dead-lettered at its position, or its challenge answered rejected or expired. */
function hasOutcome(message: Produced, outcomes: Outcomes): boolean {
  if (outcomes.deadLetters.has(message.position)) return true;
  const result = outcomes.results.get(message.challengeId);
  return message.kind !== 'reused challenge id' && result !== undefined && ENDED_UNSENT.has(result.status);
}

/** Pushes beyond one per valid request of the same challenge id (an id never produced gets none). */
function pushedAbuse(produced: Produced[], outcomes: Outcomes): number {
  const allowed = new Map<string, number>();
  for (const { challengeId, valid } of produced)
    if (valid) allowed.set(challengeId, (allowed.get(challengeId) ?? 0) + 1);
  let extra = 0;
  for (const [challengeId, times] of outcomes.pushes)
    extra += Math.max(0, times.length - (allowed.get(challengeId) ?? 0));
  return extra;
}

function outcomeSummary(abusive: Produced[], outcomes: Outcomes): string {
  const kinds = new Set(abusive.map((message) => message.kind)).size;
  const deadLettered = abusive.filter((message) => outcomes.deadLetters.has(message.position));
  const answered = abusive.filter((m) => !deadLettered.includes(m) && hasOutcome(m, outcomes));
  return `${kinds} kinds; ${deadLettered.length} dead-lettered, ${answered.length} answered rejected or expired`;
}

/** "kind ×count, ..." for a note. */
function kindsOf(messages: Produced[]): string {
  const counts = new Map<string, number>();
  for (const { kind } of messages) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return [...counts].map(([kind, count]) => `${kind} ×${count}`).join(', ');
}

async function readinessFigure(dispatcher: AppProcess): Promise<Figure> {
  const ready = !dispatcher.exited && (await ApiClient.of(dispatcher).ready());
  return {
    scenario: SCENARIO,
    name: 'dispatcher not alive and ready at the end',
    value: ready ? 0 : 1,
    expect: 'zero',
  };
}
