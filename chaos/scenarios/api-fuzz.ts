/**
 * api-fuzz: property-based fuzzing of POST /mfa and PATCH /mfa/push with fast-check. Each generated
 * body (a valid one, a mutation of one, or random JSON) is judged by an oracle written from the spec
 * (create-mfa-api) and the configuration rules, independently of the API's code; each answer is then
 * checked against that judgement, and every accepted body against what the API stored.
 */
import { createPrivateKey, generateKeyPairSync, KeyObject } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { ApiAnswer, ApiClient, startTrustingApi, TokenIssuer } from '../support/api-client';
import { ChaosContext, ChaosSize, log } from '../support/chaos-context';
import { Figure } from '../support/figures';

const SCENARIO = 'api-fuzz';
const BODY_LIMIT_BYTES = 64 * 1024;
/** Requests in flight: enough to keep the API busy, few enough not to measure the store's write queue. */
const IN_FLIGHT = 8;
const EXAMPLES_LOGGED = 3;

export async function apiFuzz(ctx: ChaosContext, size: ChaosSize): Promise<Figure[]> {
  const seed = fuzzSeed(size.reduced);
  log(`${SCENARIO}: seed ${seed} (rerun with --fuzz-seed=${seed}), ${size.fuzzRuns} bodies per route`);
  const keys = makeKeys();
  const tally = new Tally(keys);
  const onFreshServer = (route: Route, fuzz: (run: FuzzRun) => Promise<void>) =>
    fuzzOnFreshServer(
      ctx,
      route,
      (api, issuer) => new FuzzRun(api, issuer, keys, tally, `${ctx.runId}-${seed}`),
      fuzz,
    );
  await onFreshServer('POST /mfa', (run) => run.fuzzCreate(run.cases('create', size.fuzzRuns, seed)));
  await onFreshServer('PATCH /mfa/push', (run) => run.fuzzPatch(run.cases('patch', size.fuzzRuns, seed + 1)));
  tally.logExamples();
  return tally.figures();
}

type Route = 'POST /mfa' | 'PATCH /mfa/push';

/**
 * One route on its own config-api and database, so that what one route stored does not slow the other
 * (on FerretDB every write scans the collection for pending events). Probes before and after.
 */
async function fuzzOnFreshServer(
  ctx: ChaosContext,
  route: Route,
  runOn: (api: ApiClient, issuer: TokenIssuer) => FuzzRun,
  fuzz: (run: FuzzRun) => Promise<void>,
): Promise<void> {
  const issuer = new TokenIssuer();
  const name = route.startsWith('POST') ? 'create' : 'patch';
  const app = await startTrustingApi(ctx, `${SCENARIO}-${name}`, issuer, {
    API_BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES),
  });
  const run = runOn(ApiClient.of(app), issuer);
  await run.checkProbes('before fuzzing', true);
  const started = Date.now();
  await fuzz(run);
  log(`${SCENARIO}: ${route} fuzzed in ${Math.round((Date.now() - started) / 1000)} s`);
  await run.checkProbes('after fuzzing', false);
  await run.checkReady(route);
  await app.stop();
}

/**
 * --fuzz-seed=N replays a run. The reduced run (CI) uses a fixed seed, so CI never fails on bodies
 * nobody has seen; a full run explores with a new seed each time, printed.
 */
function fuzzSeed(reduced: boolean): number {
  const given = process.argv.find((arg) => arg.startsWith('--fuzz-seed='));
  if (given) return Number(given.slice('--fuzz-seed='.length));
  return reduced ? REDUCED_RUN_SEED : Date.now() % 2 ** 31;
}

const REDUCED_RUN_SEED = 20261204;

// ---------------------------------------------------------------------------------------------------
// Key material: made once per run (RSA keys take a while), valid and deliberately wrong.

interface Keys {
  apns: string;
  fcm: string;
  /** Keys that are wrong somewhere: curve, format, a public key, truncated. */
  wrong: string[];
  /** Every private key's base64 body, to catch answers that echo one. */
  secrets: string[];
}

function makeKeys(): Keys {
  const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const apns = pkcs8(ec.privateKey);
  const privates = [
    apns,
    pkcs8(rsa.privateKey),
    pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey),
    ec.privateKey.export({ type: 'sec1', format: 'pem' }).toString(),
    rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  ];
  return {
    apns,
    fcm: privates[1],
    wrong: [
      ...privates.slice(2),
      ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      `${apns.slice(0, 120)}\n-----END PRIVATE KEY-----\n`,
    ],
    secrets: privates.map((pem) => pem.replace(/-----[^-]+-----|\s/g, '')),
  };
}

const escapedNewlines = (pem: string) => pem.replace(/\n/g, '\\n');
/** A pasted PEM as the API keeps it: `\n`-escaped newlines restored, ending in one newline. */
const storedPem = (pem: string) => pem.replace(/\\n/g, '\n').trim() + '\n';

// ---------------------------------------------------------------------------------------------------
// The oracle: what the spec and the configuration rules say about a body, written from them, not
// from the API's code.

interface ApnsConfig {
  bundle_id: string;
  key: string;
  key_id: string;
  team_id: string;
  production: boolean;
}

interface FcmConfig {
  client_email: string;
  private_key: string;
  project_id: string;
}

/** A push configuration with defaults filled in and secrets in plaintext. */
interface PushConfig {
  enabled: boolean;
  provider: string;
  type: string;
  is_custom?: boolean;
  settings: { enabled_clients: string[]; strategy: string; apns?: ApnsConfig; fcm?: FcmConfig };
}

/** No problems: valid, and `config` is what must be stored. '' is the body as a whole. */
interface Verdict {
  problems: string[];
  config?: PushConfig;
}

type Check = (value: unknown) => boolean;
interface Field {
  check: Check;
  required?: boolean;
}

const isBoolean: Check = (value) => typeof value === 'boolean';
const isOneOf =
  (...allowed: string[]): Check =>
  (value) =>
    typeof value === 'string' && allowed.includes(value);
/** Lengths in characters (code points), as a person counts them. */
const isText =
  (max: number): Check =>
  (value) =>
    typeof value === 'string' && [...value].length <= max;
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isClientList: Check = (value) =>
  Array.isArray(value) && value.length <= 1000 && value.every(isText(255));
const ID = isText(255);
const PEM = isText(16_384);

const BODY_FIELDS: Record<string, Field> = {
  enabled: { check: isBoolean, required: true },
  provider: { check: isOneOf('native'), required: true },
  type: { check: isOneOf('push'), required: true },
  is_custom: { check: isBoolean },
  settings: { check: isPlainObject, required: true },
};
const SETTINGS_FIELDS: Record<string, Field> = {
  enabled_clients: { check: isClientList, required: true },
  strategy: { check: isOneOf('code', 'prompt') },
  apns: { check: isPlainObject },
  fcm: { check: isPlainObject },
};
const APNS_FIELDS: Record<string, Field> = {
  bundle_id: { check: ID, required: true },
  key: { check: PEM, required: true },
  key_id: { check: ID, required: true },
  production: { check: isBoolean },
  team_id: { check: ID, required: true },
};
const FCM_FIELDS: Record<string, Field> = {
  client_email: { check: ID, required: true },
  private_key: { check: PEM, required: true },
  project_id: { check: ID, required: true },
};
const NESTED: Record<string, Record<string, Field>> = {
  settings: SETTINGS_FIELDS,
  'settings.apns': APNS_FIELDS,
  'settings.fcm': FCM_FIELDS,
};
/** PATCH only: null removes APNs or FCM. */
const NULLABLE_IN_PATCH = ['settings.apns', 'settings.fcm'];

const join = (prefix: string, key: string) => (prefix ? `${prefix}.${key}` : key);
const fieldOf = (fields: Record<string, Field>, key: string) =>
  Object.hasOwn(fields, key) ? fields[key] : undefined;

/** Shape problems: unknown fields (any name, __proto__ too), nulls, wrong types, missing required fields. */
function shapeProblems(
  value: unknown,
  fields: Record<string, Field>,
  prefix: string,
  partial: boolean,
): string[] {
  if (!isPlainObject(value)) return [prefix];
  const problems: string[] = [];
  for (const key of Object.keys(value)) {
    const path = join(prefix, key);
    const field = fieldOf(fields, key);
    const child = value[key];
    if (!field) problems.push(path);
    else if (child === null) {
      if (!(partial && NULLABLE_IN_PATCH.includes(path))) problems.push(path);
    } else if (!field.check(child)) problems.push(path);
    else if (NESTED[path]) problems.push(...shapeProblems(child, NESTED[path], path, partial));
  }
  if (!partial)
    for (const [key, field] of Object.entries(fields))
      if (field.required && !Object.hasOwn(value, key)) problems.push(join(prefix, key));
  return problems;
}

const BUNDLE_ID = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
const APPLE_ID = /^[A-Z0-9]{10}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

const keyKinds = new Map<string, 'p8' | 'rsa' | 'other'>();

/** What a pasted PEM is, `\n`-escaped or not: an APNs .p8 (PKCS#8, EC P-256), an RSA key, or neither. */
function keyKind(pem: string): 'p8' | 'rsa' | 'other' {
  let kind = keyKinds.get(pem);
  if (kind) return kind;
  const text = storedPem(pem);
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    key = undefined;
  }
  const isP8 =
    text.startsWith('-----BEGIN PRIVATE KEY-----') &&
    key?.asymmetricKeyType === 'ec' &&
    key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  kind = isP8 ? 'p8' : key?.asymmetricKeyType === 'rsa' ? 'rsa' : 'other';
  keyKinds.set(pem, kind);
  return kind;
}

function clientProblems(clients: string[], enabled: boolean): string[] {
  const seen = new Set<string>();
  return clients.flatMap((client, index) => {
    // Blank, repeated, or (while enabled) padded or holding control or invisible characters.
    // The model's own reading, not the API's regex: no control or format character, but a zero-width
    // (non-)joiner between two non-ASCII characters.
    const chars = [...client];
    const invisible = chars.some((char, at) => {
      if (/\p{Cc}/u.test(char)) return true;
      if (!/\p{Cf}/u.test(char)) return false;
      const joins = (neighbour?: string) => neighbour !== undefined && neighbour.codePointAt(0)! > 0x7f;
      return !(['\u200C', '\u200D'].includes(char) && joins(chars[at - 1]) && joins(chars[at + 1]));
    });
    const unnameable = client.trim() !== client || invisible;
    const unusable = client.trim() === '' || seen.has(client) || (enabled && unnameable);
    seen.add(client);
    return unusable ? [`settings.enabled_clients.${index}`] : [];
  });
}

/** A section added by a PATCH may lack required fields; a complete one has each field checked. */
function sectionProblems(
  section: 'apns' | 'fcm',
  values: Record<string, unknown> | undefined,
  rules: Record<string, (value: string) => boolean>,
): string[] {
  if (!values) return [];
  const missing = Object.keys(rules).filter((field) => typeof values[field] !== 'string');
  const failing = missing.length ? missing : Object.keys(rules).filter((f) => !rules[f](values[f] as string));
  return failing.map((field) => `settings.${section}.${field}`);
}

const APNS_RULES = {
  bundle_id: (value: string) => BUNDLE_ID.test(value),
  key: (value: string) => keyKind(value) === 'p8',
  key_id: (value: string) => APPLE_ID.test(value),
  team_id: (value: string) => APPLE_ID.test(value),
};
const FCM_RULES = {
  client_email: (value: string) => EMAIL.test(value),
  private_key: (value: string) => keyKind(value) === 'rsa',
  project_id: (value: string) => PROJECT_ID.test(value),
};

/** The rules a whole configuration meets, after a create or a merged PATCH. */
function ruleProblems(config: PushConfig): string[] {
  const { settings } = config;
  return [
    ...clientProblems(settings.enabled_clients, config.enabled),
    ...(config.enabled && settings.enabled_clients.length === 0 ? ['settings.enabled_clients'] : []),
    ...sectionProblems('apns', settings.apns as unknown as Record<string, unknown>, APNS_RULES),
    ...sectionProblems('fcm', settings.fcm as unknown as Record<string, unknown>, FCM_RULES),
    ...(config.enabled && !settings.apns && !settings.fcm ? ['settings'] : []),
  ];
}

/** The parsed body, or the problem '' when the body as a whole is refused (media type, size, syntax). */
function parsedBody(fuzzCase: FuzzCase): { body?: unknown; problems: string[] } {
  // No body at all reads as an empty object.
  if (!fuzzCase.text) return { body: {}, problems: [] };
  const jsonMedia = /^application\/json\s*(;\s*charset=utf-8\s*)?$/i;
  if (fuzzCase.contentType !== undefined && !jsonMedia.test(fuzzCase.contentType ?? ''))
    return { problems: [''] };
  if (Buffer.byteLength(fuzzCase.text) > BODY_LIMIT_BYTES) return { problems: [''] };
  try {
    return { body: JSON.parse(fuzzCase.text), problems: [] };
  } catch {
    return { problems: [''] };
  }
}

/**
 * What the API documents for every body (docs/security.md): nesting at most 16 levels, no key that
 * Object.prototype owns (`__proto__`, `constructor`, `toString`...) nor `prototype`, and only
 * well-formed unicode in keys and strings. The first offending path, or undefined.
 */
function hostilePath(body: unknown): string | undefined {
  const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  const pending: { value: unknown; path: string; depth: number }[] = [{ value: body, path: '', depth: 0 }];
  while (pending.length) {
    const { value, path, depth } = pending.pop()!;
    if (typeof value === 'string' && loneSurrogate.test(value)) return path;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= 16) return path;
    for (const [key, child] of Object.entries(value)) {
      const childPath = path ? `${path}.${key}` : key;
      if (
        !Array.isArray(value) &&
        (key in Object.prototype || key === 'prototype' || loneSurrogate.test(key))
      )
        return childPath;
      pending.push({ value: child, path: childPath, depth: depth + 1 });
    }
  }
  return undefined;
}

/** The verdict on a body: parsed, no hostile shape, the fields' shapes, then the rules on the result. */
function judgeBody(
  fuzzCase: FuzzCase,
  patching: boolean,
  toConfig: (body: Record<string, unknown>) => PushConfig,
): Verdict {
  const { body, problems } = parsedBody(fuzzCase);
  if (problems.length) return { problems };
  const hostile = hostilePath(body);
  if (hostile !== undefined) return { problems: [hostile] };
  const shape = shapeProblems(body, BODY_FIELDS, '', patching);
  if (shape.length) return { problems: shape };
  const config = toConfig(body as Record<string, unknown>);
  const rules = ruleProblems(config);
  return rules.length ? { problems: rules } : { problems: [], config };
}

const judgeCreate = (fuzzCase: FuzzCase): Verdict => judgeBody(fuzzCase, false, createdConfig);

const judgePatch = (fuzzCase: FuzzCase, current: PushConfig): Verdict =>
  judgeBody(fuzzCase, true, (body) => mergedConfig(current, body));

/** A shape-checked create body with the spec's defaults: strategy "code", apns.production true. */
function createdConfig(body: Record<string, unknown>): PushConfig {
  const settings = body.settings as Record<string, unknown>;
  return {
    enabled: body.enabled as boolean,
    provider: body.provider as string,
    type: body.type as string,
    ...(body.is_custom !== undefined && { is_custom: body.is_custom as boolean }),
    settings: {
      enabled_clients: settings.enabled_clients as string[],
      strategy: (settings.strategy as string | undefined) ?? 'code',
      ...(settings.apns !== undefined && {
        apns: { production: true, ...(settings.apns as object) } as ApnsConfig,
      }),
      ...(settings.fcm !== undefined && { fcm: { ...(settings.fcm as FcmConfig) } }),
    },
  };
}

/** PATCH semantics (per the API's docs): given fields replace, omitted ones stay, null removes apns/fcm. */
function mergedConfig(current: PushConfig, patch: Record<string, unknown>): PushConfig {
  const { settings: settingsPatch, ...top } = patch as { settings?: Record<string, unknown> };
  const settings = { ...current.settings, ...pick(settingsPatch ?? {}, ['enabled_clients', 'strategy']) };
  for (const section of ['apns', 'fcm'] as const) {
    const given = settingsPatch?.[section];
    if (given === null) delete settings[section];
    else if (given !== undefined)
      Object.assign(settings, {
        [section]: {
          ...(section === 'apns' && { production: true }),
          ...settings[section],
          ...(given as object),
        },
      });
  }
  return { ...current, ...(top as Partial<PushConfig>), settings };
}

function pick(source: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((key) => source[key] !== undefined).map((key) => [key, source[key]]));
}

/** Keys a JavaScript server may drop rather than refuse: __proto__, constructor, toString and the like. */
const DROPPABLE_KEYS = [...Object.getOwnPropertyNames(Object.prototype), 'prototype'];

/**
 * The verdict on a body as if its droppable keys were not there (undefined when it has none): what is
 * left to store when a server drops such keys instead of refusing them.
 */
function meaning(fuzzCase: FuzzCase, judgeCase: (fuzzCase: FuzzCase) => Verdict): Verdict | undefined {
  if (!fuzzCase.text || !DROPPABLE_KEYS.some((key) => fuzzCase.text!.includes(`"${key}"`))) return undefined;
  try {
    const body = JSON.parse(fuzzCase.text, (key, value: unknown) =>
      DROPPABLE_KEYS.includes(key) ? undefined : value,
    );
    return judgeCase({ ...fuzzCase, text: JSON.stringify(body) });
  } catch {
    // Nested too deep to revive: judged as sent.
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------
// What the API answers with: a configuration exactly as stored, secrets masked.

/** The same configuration once stored: secrets as the API keeps them, fields left undefined dropped. */
function sameAsStored(left: PushConfig, right: PushConfig): boolean {
  const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value ?? null));
  const sameSection = <T extends object>(a: T | undefined, b: T | undefined, secret: keyof T): boolean => {
    if (!a || !b) return a === b;
    const pems = [a[secret], b[secret]].map((pem) => storedPem(String(pem)));
    return (
      pems[0] === pems[1] && isDeepStrictEqual(plain({ ...a, [secret]: 0 }), plain({ ...b, [secret]: 0 }))
    );
  };
  const { settings: leftSettings, ...leftTop } = left;
  const { settings: rightSettings, ...rightTop } = right;
  const { apns: leftApns, fcm: leftFcm, ...leftRest } = leftSettings;
  const { apns: rightApns, fcm: rightFcm, ...rightRest } = rightSettings;
  return (
    isDeepStrictEqual(plain(leftTop), plain(rightTop)) &&
    isDeepStrictEqual(plain(leftRest), plain(rightRest)) &&
    sameSection(leftApns, rightApns, 'key') &&
    sameSection(leftFcm, rightFcm, 'private_key')
  );
}

/** How a presented configuration differs from the expected one: values, masks, and exactly its keys. */
function differences(expected: PushConfig, version: number, presented: unknown): string[] {
  const out: string[] = [];
  if (!isPlainObject(presented)) return ['not a JSON object'];
  const top = ['enabled', 'provider', 'type', 'settings', 'version', 'created_at', 'updated_at'];
  exactKeys(out, '', presented, expected.is_custom === undefined ? top : [...top, 'is_custom'], ['status']);
  compare(out, '', presented, { ...expected, settings: undefined, version }, [
    'enabled',
    'provider',
    'type',
    'is_custom',
    'version',
  ]);
  const settings = presented.settings;
  if (!isPlainObject(settings)) return [...out, 'settings is not an object'];
  const sections = (['apns', 'fcm'] as const).filter((section) => expected.settings[section]);
  exactKeys(out, 'settings', settings, ['enabled_clients', 'strategy', ...sections], []);
  compare(out, 'settings', settings, expected.settings, ['enabled_clients', 'strategy']);
  if (expected.settings.apns) presentedApns(out, expected.settings.apns, settings.apns);
  if (expected.settings.fcm) presentedFcm(out, expected.settings.fcm, settings.fcm);
  return out;
}

function presentedApns(out: string[], expected: ApnsConfig, presented: unknown): void {
  if (!isPlainObject(presented)) return void out.push('settings.apns is not an object');
  const fields = ['bundle_id', 'key_id', 'production', 'team_id'];
  exactKeys(out, 'settings.apns', presented, [...fields, 'key', 'key_fingerprint'], []);
  compare(out, 'settings.apns', presented, expected, fields);
  masked(out, 'settings.apns.key', presented.key, presented.key_fingerprint);
}

function presentedFcm(out: string[], expected: FcmConfig, presented: unknown): void {
  if (!isPlainObject(presented)) return void out.push('settings.fcm is not an object');
  const fields = ['client_email', 'project_id'];
  exactKeys(out, 'settings.fcm', presented, [...fields, 'private_key', 'private_key_fingerprint'], []);
  compare(out, 'settings.fcm', presented, expected, fields);
  masked(out, 'settings.fcm.private_key', presented.private_key, presented.private_key_fingerprint);
}

function exactKeys(
  out: string[],
  path: string,
  presented: Record<string, unknown>,
  required: string[],
  optional: string[],
): void {
  const keys = Object.keys(presented);
  for (const key of keys)
    if (!required.includes(key) && !optional.includes(key)) out.push(`unexpected key ${join(path, key)}`);
  for (const key of required) if (!keys.includes(key)) out.push(`missing ${join(path, key)}`);
}

function compare(
  out: string[],
  path: string,
  presented: Record<string, unknown>,
  expected: object,
  fields: string[],
) {
  const shown = (value: unknown) => short(JSON.stringify(value) ?? 'absent');
  for (const field of fields) {
    const want = (expected as Record<string, unknown>)[field];
    if (JSON.stringify(presented[field]) !== JSON.stringify(want))
      out.push(`${join(path, field)}: ${shown(presented[field])} ≠ ${shown(want)}`);
  }
}

function masked(out: string[], path: string, secret: unknown, fingerprint: unknown): void {
  if (typeof secret !== 'string' || secret.includes('PRIVATE KEY')) out.push(`${path} is not masked`);
  if (typeof fingerprint !== 'string') out.push(`${path} has no fingerprint`);
}

// ---------------------------------------------------------------------------------------------------
// The generated bodies.

interface FuzzCase {
  kind: string;
  /** undefined: no body at all. */
  text?: string;
  /** undefined: application/json; null: none. */
  contentType?: string | null;
}

type Path = (string | number)[];

const DEEP_MARKER = '@@chaos-deep@@';
const PROTOTYPE_FILL = 'prototype key supplying a missing field';
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];
/** Control, invisible, bidi, lone surrogate, look-alike and astral characters, with plain ones to mix. */
const WEIRD_CHARS = [
  ...'\u0000,\u0007,\u001b,\u007f,\u200b,\u202e,\u2028,\ufeff,\ufffd,\ud800,\udfff'.split(','),
  ...'é,İ,ı,中,😀,👩‍💻,Ａ,a,Z,1,.,-, '.split(','),
];
const CONTENT_TYPES = [
  null,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=chaos',
  'application/xml',
  'text/json',
  'application/jsonp',
  'application/json; charset=utf-16',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
];

/** Every path to a value inside `root`, and the paths of the objects among them (root included). */
function pathsOf(root: unknown): { values: Path[]; strings: Path[]; objects: Path[] } {
  const found = { values: [] as Path[], strings: [] as Path[], objects: [[]] as Path[] };
  const visit = (value: unknown, path: Path) => {
    if (value === null || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value)) {
      const childPath = [...path, Array.isArray(value) ? Number(key) : key];
      found.values.push(childPath);
      if (typeof child === 'string') found.strings.push(childPath);
      if (isPlainObject(child)) found.objects.push(childPath);
      visit(child, childPath);
    }
  };
  visit(root, []);
  return found;
}

const nth = <T>(items: T[], n: number): T | undefined => items[n % Math.max(items.length, 1)];

function containerAt(root: unknown, path: Path): Record<string | number, unknown> {
  return path.reduce<unknown>((value, key) => (value as Record<string, unknown>)[key], root) as Record<
    string | number,
    unknown
  >;
}

/** An own, enumerable property even for "__proto__", as JSON.parse makes it. */
function define(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function setAt(root: unknown, path: Path, value: unknown): void {
  if (path.length) define(containerAt(root, path.slice(0, -1)), path[path.length - 1], value);
}

function removeAt(root: unknown, path: Path): void {
  if (!path.length) return;
  const container = containerAt(root, path.slice(0, -1));
  const key = path[path.length - 1];
  if (Array.isArray(container)) container.splice(key as number, 1);
  else delete container[key];
}

type Body = Record<string, unknown>;
const copy = (body: Body): Body => structuredClone(body);
const jsonCase = (kind: string, body: unknown): FuzzCase => ({ kind, text: JSON.stringify(body) });

/** Valid-looking bodies: a create body (required fields present) or a PATCH body (any subset, null sections). */
function baseBody(keys: Keys, mode: 'create' | 'patch'): fc.Arbitrary<Body> {
  // A PATCH may leave out anything; a create body only what the spec leaves optional.
  const requiring = <const K extends string>(names: readonly K[]): { requiredKeys: K[] } => ({
    requiredKeys: mode === 'patch' ? [] : [...names],
  });
  const appleId = fc.stringMatching(/^[A-Z0-9]{10}$/);
  const eitherForm = (pem: string) => fc.constantFrom(pem, escapedNewlines(pem));
  const apns = fc.record(
    {
      bundle_id: fc.constantFrom('com.example.authenticator', 'io.chaos.push-app'),
      key: eitherForm(keys.apns),
      key_id: appleId,
      team_id: appleId,
      production: fc.boolean(),
    },
    requiring(['bundle_id', 'key', 'key_id', 'team_id']),
  );
  const fcm = fc.record(
    {
      client_email: fc.constantFrom('push@chaos-project.iam.gserviceaccount.com', 'sa@p.example'),
      private_key: eitherForm(keys.fcm),
      project_id: fc.stringMatching(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/),
    },
    requiring(['client_email', 'private_key', 'project_id']),
  );
  // In a PATCH, null removes a section.
  const section = <T>(arb: fc.Arbitrary<T>) => (mode === 'patch' ? fc.option(arb, { freq: 4 }) : arb);
  const settings = fc.record(
    {
      enabled_clients: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), { maxLength: 5 }),
      strategy: fc.constantFrom('code', 'prompt'),
      apns: section(apns),
      fcm: section(fcm),
    },
    requiring(['enabled_clients']),
  );
  return fc.record(
    {
      enabled: fc.boolean(),
      provider: fc.constant('native'),
      type: fc.constant('push'),
      is_custom: fc.boolean(),
      settings,
    },
    requiring(['enabled', 'provider', 'type', 'settings']),
  );
}

const junkValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom<unknown>(null, '', ' ', 0, -1, 1.5, 1e308, true, false, [], {}, 'true', 'push', [
    'web-login',
  ]),
);
const weirdText = fc.string({ unit: fc.constantFrom(...WEIRD_CHARS), minLength: 1, maxLength: 24 });

function missingField(base: fc.Arbitrary<Body>): fc.Arbitrary<FuzzCase> {
  return fc.tuple(base, fc.nat()).map(([body, n]) => {
    const mutated = copy(body);
    removeAt(mutated, nth(pathsOf(mutated).values, n) ?? []);
    return jsonCase('missing field', mutated);
  });
}

function wrongValue(base: fc.Arbitrary<Body>): fc.Arbitrary<FuzzCase> {
  return fc.tuple(base, fc.nat(), junkValue).map(([body, n, value]) => {
    const mutated = copy(body);
    setAt(mutated, nth(pathsOf(mutated).values, n) ?? [], value);
    return jsonCase(value === null ? 'null' : 'wrong type', mutated);
  });
}

function extraField(base: fc.Arbitrary<Body>): fc.Arbitrary<FuzzCase> {
  const name = fc.oneof(
    fc.constantFrom('version', '_id', 'tenant', 'deleted', 'pending_events', '$where', '$set', 'a.b'),
    fc.constantFrom('toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'isPrototypeOf'),
    fc.string({ maxLength: 12 }),
    weirdText,
  );
  return fc.tuple(base, fc.nat(), name, junkValue).map(([body, n, key, value]) => {
    const mutated = copy(body);
    define(containerAt(mutated, nth(pathsOf(mutated).objects, n) ?? []), key, value);
    return jsonCase('extra field', mutated);
  });
}

/** A key of the wrong kind (curve, format, a public key, truncated) or the other service's, in either slot. */
function wrongKey(base: fc.Arbitrary<Body>, keys: Keys): fc.Arbitrary<FuzzCase> {
  const pem = fc.constantFrom(...keys.wrong, keys.apns, keys.fcm);
  return fc.tuple(base, pem, fc.boolean()).map(([body, key, inApns]) => {
    const mutated = copy(body);
    const settings = isPlainObject(mutated.settings) ? mutated.settings : (mutated.settings = {});
    const [section, field] = inApns ? ['apns', 'key'] : ['fcm', 'private_key'];
    settings[section] = { ...(isPlainObject(settings[section]) ? settings[section] : {}), [field]: key };
    return jsonCase('wrong key', mutated);
  });
}

function hugeString(base: fc.Arbitrary<Body>): fc.Arbitrary<FuzzCase> {
  const length = fc.oneof(
    fc.integer({ min: 250, max: 300 }),
    fc.integer({ min: 16_000, max: 17_000 }),
    fc.integer({ min: 30_000, max: 100_000 }),
  );
  return fc
    .tuple(base, fc.nat(), length, fc.constantFrom('x', 'A', 'é', '😀', '\u0000'))
    .map(([body, n, size, char]) => {
      const mutated = copy(body);
      const { strings, values } = pathsOf(mutated);
      setAt(mutated, nth(strings, n) ?? nth(values, n) ?? [], char.repeat(size));
      return jsonCase('huge string', mutated);
    });
}

function hugeArray(base: fc.Arbitrary<Body>): fc.Arbitrary<FuzzCase> {
  const shape = fc.constantFrom('unique', 'repeated', 'long');
  return fc.tuple(base, fc.integer({ min: 995, max: 6000 }), shape).map(([body, size, kind]) => {
    const mutated = copy(body);
    const clients = Array.from({ length: size }, (_, i) =>
      kind === 'repeated' ? 'same' : kind === 'long' ? `client-${i}-`.padEnd(60, 'x') : `c${i}`,
    );
    mutated.settings = {
      ...(isPlainObject(mutated.settings) ? mutated.settings : {}),
      enabled_clients: clients,
    };
    return jsonCase('huge array', mutated);
  });
}

function deepNesting(base: fc.Arbitrary<Body>): fc.Arbitrary<FuzzCase> {
  const depth = fc.oneof(fc.integer({ min: 10, max: 500 }), fc.integer({ min: 500, max: 30_000 }));
  return fc
    .tuple(base, fc.nat(), depth, fc.constantFrom('object', 'array'))
    .map(([body, n, levels, shape]) => {
      const mutated = copy(body);
      const { values, objects } = pathsOf(mutated);
      // Half the time under a known field, half under a new key: both reach the validation.
      const path = n % 2 ? (nth(values, n) ?? ['deep']) : [...(nth(objects, n) ?? []), 'deep'];
      setAt(mutated, path, DEEP_MARKER);
      const nested =
        shape === 'object'
          ? `${'{"a":'.repeat(levels)}0${'}'.repeat(levels)}`
          : `${'['.repeat(levels)}${']'.repeat(levels)}`;
      return {
        kind: 'deep nesting',
        text: JSON.stringify(mutated).replace(`"${DEEP_MARKER}"`, () => nested),
      };
    });
}

function unicode(base: fc.Arbitrary<Body>): fc.Arbitrary<FuzzCase> {
  return fc.tuple(base, fc.nat(), weirdText, fc.boolean()).map(([body, n, text, asKey]) => {
    const mutated = copy(body);
    const { strings, objects } = pathsOf(mutated);
    // Client ids are stored as given: the one place where a string must come back exactly as sent.
    if (n % 4 === 0 && isPlainObject(mutated.settings) && Array.isArray(mutated.settings.enabled_clients))
      mutated.settings.enabled_clients = [...new Set([text, ...mutated.settings.enabled_clients])];
    else if (asKey || !strings.length) define(containerAt(mutated, nth(objects, n) ?? []), text, true);
    else {
      const path = nth(strings, n) ?? [];
      const original = String(containerAt(mutated, path.slice(0, -1))[path[path.length - 1]]);
      // Appended or replacing: "ABC123DEFG\u200b" must fail as surely as "\u200b".
      setAt(mutated, path, n % 3 ? original + text : text);
    }
    return jsonCase('unicode', mutated);
  });
}

/** __proto__, constructor or prototype as own keys anywhere, carrying fields and a canary. */
function prototypeKeys(base: fc.Arbitrary<Body>, canary: string): fc.Arbitrary<FuzzCase> {
  const payload = fc.constantFrom<unknown>(
    { isAdmin: true, polluted: canary, [canary]: true },
    { enabled: true, provider: 'native', type: 'push', [canary]: 1 },
    { prototype: { polluted: canary, [canary]: true } },
    { settings: { enabled_clients: [canary] } },
    null,
    canary,
  );
  return fc.tuple(base, fc.nat(), fc.constantFrom(...PROTO_KEYS), payload).map(([body, n, key, value]) => {
    const mutated = copy(body);
    define(containerAt(mutated, nth(pathsOf(mutated).objects, n) ?? []), key, value);
    return jsonCase('prototype key', mutated);
  });
}

/** A required field removed and offered again through __proto__ (or constructor.prototype) beside it. */
function prototypeFill(base: fc.Arbitrary<Body>): fc.Arbitrary<FuzzCase> {
  return fc
    .tuple(base, fc.nat(), fc.boolean())
    .map(([body, n, viaConstructor]) => prototypeFilled(body, n, viaConstructor));
}

function prototypeFilled(body: Body, n: number, viaConstructor: boolean): FuzzCase {
  const mutated = copy(body);
  const inObjects = pathsOf(mutated).values.filter((path) => typeof path[path.length - 1] === 'string');
  const path = nth(inObjects, n) ?? ['enabled'];
  const container = containerAt(mutated, path.slice(0, -1));
  const key = path[path.length - 1];
  const offered = { [key]: container[key] ?? true };
  delete container[key];
  if (viaConstructor) define(container, 'constructor', { prototype: offered });
  else define(container, '__proto__', offered);
  return jsonCase(PROTOTYPE_FILL, mutated);
}

function invalidJson(base: fc.Arbitrary<Body>): fc.Arbitrary<FuzzCase> {
  const breakers: ((text: string, n: number) => string)[] = [
    (text, n) => text.slice(0, 1 + (n % (text.length - 1))),
    (text, n) => {
      const at = n % text.length;
      return text.slice(0, at) + '}{,:"]x\\\u0001'[n % 9] + text.slice(at);
    },
    (text) => text.replace(/}$/, ',}'),
    (text) => text.replace(/"/g, "'"),
    (text) => text.replace('{', '{"x":NaN,'),
    (text) => `/* admin */${text}`,
    (text) => text + text,
  ];
  return fc.tuple(base, fc.nat(), fc.nat()).map(([body, which, n]) => ({
    kind: 'invalid JSON',
    text: breakers[which % breakers.length](JSON.stringify(body), n),
  }));
}

function contentType(base: fc.Arbitrary<Body>): fc.Arbitrary<FuzzCase> {
  return fc.tuple(base, fc.constantFrom(...CONTENT_TYPES)).map(([body, type]) => ({
    kind: 'content type',
    text: JSON.stringify(body),
    contentType: type,
  }));
}

function randomJson(): fc.Arbitrary<FuzzCase> {
  const knownKeys = fc.record(
    { enabled: junkValue, provider: junkValue, type: junkValue, is_custom: junkValue, settings: junkValue },
    { requiredKeys: [] },
  );
  return fc
    .oneof(fc.jsonValue(), fc.object(), knownKeys, fc.anything())
    .map((value) => ({ kind: 'random JSON', text: JSON.stringify(value) }));
}

function fuzzCases(keys: Keys, mode: 'create' | 'patch', canary: string): fc.Arbitrary<FuzzCase> {
  const base = baseBody(keys, mode);
  const weighted = (weight: number, arbitrary: fc.Arbitrary<FuzzCase>) => ({ weight, arbitrary });
  return fc.oneof(
    weighted(
      4,
      base.map((body) => jsonCase('valid', body)),
    ),
    weighted(2, missingField(base)),
    weighted(3, wrongValue(base)),
    weighted(1, wrongKey(base, keys)),
    weighted(2, extraField(base)),
    weighted(1, hugeString(base)),
    weighted(1, hugeArray(base)),
    weighted(1, deepNesting(base)),
    weighted(2, unicode(base)),
    weighted(2, prototypeKeys(base, canary)),
    weighted(1, prototypeFill(base)),
    weighted(1, invalidJson(base)),
    weighted(1, contentType(base)),
    weighted(2, randomJson()),
  );
}

/** A valid body with both APNs and FCM: the start of every PATCH lane and of the probes. */
function seedBody(keys: Keys, clients = ['web-login']): Body {
  return {
    enabled: true,
    provider: 'native',
    type: 'push',
    settings: {
      enabled_clients: clients,
      strategy: 'prompt',
      apns: {
        bundle_id: 'com.example.authenticator',
        key: keys.apns,
        key_id: 'ABC123DEFG',
        team_id: 'TEAM123456',
      },
      fcm: {
        client_email: 'push@chaos-project.iam.gserviceaccount.com',
        private_key: keys.fcm,
        project_id: 'chaos-project',
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The run: sends the cases, judges the answers, counts.

type Finding =
  | 'fiveXx'
  | 'noAnswer'
  | 'acceptedInvalid'
  | 'validRefused'
  | 'storedDiffers'
  | 'unnamedError'
  | 'echoedSecret'
  | 'pollution';

interface Exchange {
  route: string;
  fuzzCase: FuzzCase;
  verdict?: Verdict;
  answer: ApiAnswer;
}

/** One PATCH target: a tenant whose configuration the run knows at every step. */
interface Lane {
  tenant: string;
  config: PushConfig;
  version: number;
}

/** The counts, kinds and first examples of every finding, over both routes. */
class Tally {
  readonly sent = new Map<string, number>();
  valid = 0;
  private readonly counts = new Map<Finding, number>();
  private readonly kinds = new Map<Finding, Map<string, number>>();
  private readonly examples = new Map<Finding, string[]>();
  private readonly notReady: string[] = [];
  private readonly secretWindows: Set<string>;

  constructor(keys: Keys) {
    this.secretWindows = windowsOf(keys.secrets);
  }

  sentTo(route: string): void {
    this.sent.set(route, (this.sent.get(route) ?? 0) + 1);
  }

  serverNotReady(route: string): void {
    this.notReady.push(route);
  }

  count(finding: Finding, exchange: Exchange, detail?: string, kind = exchange.fuzzCase.kind): void {
    this.counts.set(finding, (this.counts.get(finding) ?? 0) + 1);
    const kinds = this.kinds.get(finding) ?? new Map<string, number>();
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    this.kinds.set(finding, kinds);
    const examples = this.examples.get(finding) ?? [];
    if (examples.length < EXAMPLES_LOGGED) examples.push(describeExchange(exchange, detail));
    this.examples.set(finding, examples);
  }

  /** Whether an answer holds 16 or more characters in a row of a private key's base64 body. */
  echoesSecret(text: string): boolean {
    const runs = text.replace(/\\n|\n/g, '').match(/[A-Za-z0-9+/]{16,}/g) ?? [];
    return runs.some((run) => {
      for (let at = 0; at + 16 <= run.length; at++)
        if (this.secretWindows.has(run.slice(at, at + 16))) return true;
      return false;
    });
  }

  logExamples(): void {
    for (const [finding, examples] of this.examples)
      for (const example of examples) log(`${SCENARIO} ${FIGURE_NAMES[finding]}: ${example}`);
  }

  figures(): Figure[] {
    const figure = (finding: Finding): Figure => ({
      scenario: SCENARIO,
      name: FIGURE_NAMES[finding],
      value: this.counts.get(finding) ?? 0,
      expect: 'zero',
      ...(this.kinds.get(finding) && { note: kindsNote(this.kinds.get(finding)!) }),
    });
    return [
      ...[...this.sent].map(([route, sent]) => ({
        scenario: SCENARIO,
        name: `${route} bodies sent`,
        value: sent,
      })),
      { scenario: SCENARIO, name: 'valid bodies among them (oracle)', value: this.valid },
      ...(['fiveXx', 'noAnswer', 'acceptedInvalid', 'validRefused', 'storedDiffers'] as const).map(figure),
      ...(['unnamedError', 'echoedSecret', 'pollution'] as const).map(figure),
      {
        scenario: SCENARIO,
        name: 'server not ready after the run',
        value: this.notReady.length,
        expect: 'zero',
        ...(this.notReady.length && { note: this.notReady.join(', ') }),
      },
    ];
  }
}

/** Sends one route's cases to its server, judges each answer, and counts into the tally. */
class FuzzRun {
  private readonly canary: string;
  private lanes: Lane[] = [];
  private tenants = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly issuer: TokenIssuer,
    private readonly keys: Keys,
    private readonly tally: Tally,
    private readonly tag: string,
  ) {
    this.canary = `chaos_polluted_${tag.replace(/\W/g, '_')}`;
  }

  /** The generated cases, after a fixed set of pollution attempts that every run makes. */
  cases(mode: 'create' | 'patch', count: number, seed: number): FuzzCase[] {
    const fixed = [0, 1, 2, 3].flatMap((n) =>
      [true, false].map((via) => prototypeFilled(seedBody(this.keys), n, via)),
    );
    const sampled = fc.sample(fuzzCases(this.keys, mode, this.canary), {
      numRuns: count - fixed.length,
      seed,
    });
    return [...fixed, ...sampled];
  }

  /** POST /mfa: each case as a new tenant, so a valid body is a 201 (not a 409), and read back. */
  async fuzzCreate(cases: FuzzCase[]): Promise<void> {
    await inParallel(cases, IN_FLIGHT, async (fuzzCase) => {
      const tenant = this.newTenant('c');
      const verdict = judgeCreate(fuzzCase);
      const meant = meaning(fuzzCase, judgeCreate) ?? verdict;
      const answer = await this.send('POST', '/mfa', tenant, fuzzCase);
      this.tally.sentTo('POST /mfa');
      const exchange = { route: 'POST /mfa', fuzzCase, verdict, answer };
      this.judge(exchange, meant);
      if (isSuccess(answer) && meant.config) await this.checkStored(exchange, tenant, meant.config, 1);
    });
  }

  /**
   * PATCH /mfa/push: lanes in parallel, each case in a lane in order, each lane's configuration known
   * throughout and read back at the end.
   */
  async fuzzPatch(cases: FuzzCase[]): Promise<void> {
    this.lanes = await Promise.all(Array.from({ length: IN_FLIGHT }, () => this.openLane()));
    await Promise.all(
      this.lanes.map(async (lane, index) => {
        for (let i = index; i < cases.length; i += this.lanes.length) await this.patchOnce(lane, cases[i]);
      }),
    );
    await this.checkLanesStored();
  }

  private async patchOnce(lane: Lane, fuzzCase: FuzzCase): Promise<void> {
    const judgeOnLane = (judged: FuzzCase) => judgePatch(judged, lane.config);
    const verdict = judgeOnLane(fuzzCase);
    const meant = meaning(fuzzCase, judgeOnLane) ?? verdict;
    const answer = await this.send('PATCH', '/mfa/push', lane.tenant, fuzzCase);
    this.tally.sentTo('PATCH /mfa/push');
    const exchange = { route: 'PATCH /mfa/push', fuzzCase, verdict, answer };
    this.judge(exchange, meant);
    const stored = isSuccess(answer) ? meant.config : undefined;
    // A PATCH that leaves the configuration as it was writes nothing: the version stays (per the docs).
    const version = stored && sameAsStored(stored, lane.config) ? lane.version : lane.version + 1;
    const differs = stored && (await this.checkStored(exchange, lane.tenant, stored, version));
    if (stored && !differs) {
      lane.config = stored;
      lane.version = version;
    } else if (isSuccess(answer) || answer.status === 0 || answer.status >= 500) {
      // What the API holds now is unknown or known to differ: go on with a new tenant (one count per cause).
      Object.assign(lane, await this.openLane());
    }
  }

  private async openLane(): Promise<Lane> {
    const tenant = this.newTenant('p');
    const body = seedBody(this.keys);
    const answer = await this.send('POST', '/mfa', tenant, jsonCase('valid', body));
    const config = judgeCreate(jsonCase('valid', body)).config;
    if (answer.status !== 201 || !config)
      throw new Error(`could not create a PATCH lane: ${answer.status} ${answer.text}`);
    return { tenant, config, version: 1 };
  }

  /** Each lane's configuration, read back at the end, is what the accepted PATCHes made of it. */
  private async checkLanesStored(): Promise<void> {
    for (const lane of this.lanes) {
      const answer = await this.send('GET', '/mfa/push', lane.tenant);
      const exchange = { route: 'GET /mfa/push (lane)', fuzzCase: { kind: 'read back' }, answer };
      this.countDifferences(exchange, differences(lane.config, lane.version, answer.body));
    }
  }

  /**
   * The server after pollution attempts: a missing field still refused and named, no token still a 401,
   * a valid body still stored exactly. Before fuzzing they must pass, or the probes are wrong.
   */
  async checkProbes(when: string, mustPass: boolean): Promise<void> {
    const failures = await this.probeFailures();
    if (failures.length && mustPass) throw new Error(`probes fail ${when}: ${failures.join('; ')}`);
    for (const failure of failures) this.count('pollution', probeExchange(failure), failure);
  }

  private async probeFailures(): Promise<string[]> {
    const failures: string[] = [];
    const refusedNaming = async (label: string, body: Body, field: string) => {
      const answer = await this.send('POST', '/mfa', this.newTenant('q'), jsonCase('probe', body));
      const named = detailPaths(answer.body).includes(field);
      if (answer.status !== 400 || !named) failures.push(`${label}: ${answer.status} ${short(answer.text)}`);
    };
    const { enabled: _, ...withoutEnabled } = seedBody(this.keys);
    await refusedNaming('body without enabled', withoutEnabled, 'enabled');
    const noKeyId = seedBody(this.keys) as { settings: { apns: Body; fcm?: Body } };
    delete noKeyId.settings.apns.key_id;
    delete noKeyId.settings.fcm;
    await refusedNaming('apns without key_id', noKeyId, 'settings.apns.key_id');
    await refusedNaming('empty body', {}, 'settings');
    const anonymous = await this.api.send({ method: 'GET', path: '/mfa' });
    if (anonymous.status !== 401) failures.push(`GET /mfa without a token: ${anonymous.status}`);
    const fresh = await this.send('GET', '/mfa', this.newTenant('q'));
    if (JSON.stringify(fresh.body) !== '{"total":0,"results":[]}')
      failures.push(`GET /mfa of a new tenant: ${fresh.status} ${short(fresh.text)}`);
    failures.push(...(await this.validProbeFailures()));
    return failures;
  }

  private async validProbeFailures(): Promise<string[]> {
    const tenant = this.newTenant('q');
    const fuzzCase = jsonCase('probe', seedBody(this.keys, ['probe-client']));
    const config = judgeCreate(fuzzCase).config!;
    const created = await this.send('POST', '/mfa', tenant, fuzzCase);
    if (created.status !== 201) return [`a valid body: ${created.status} ${short(created.text)}`];
    const read = await this.send('GET', '/mfa/push', tenant);
    return differences(config, 1, read.body).map((difference) => `valid body read back: ${difference}`);
  }

  async checkReady(route: string): Promise<void> {
    if (!(await this.api.ready())) this.tally.serverNotReady(route);
  }

  private newTenant(prefix: string): string {
    return `fz-${prefix}-${this.tag}-${this.tenants++}`;
  }

  private async send(
    method: 'GET' | 'POST' | 'PATCH',
    path: string,
    tenant: string,
    fuzzCase?: FuzzCase,
  ): Promise<ApiAnswer> {
    const token = await this.issuer.token(tenant);
    const { text, contentType } = fuzzCase ?? {};
    return this.api.send({ method, path, token, text, contentType });
  }

  /**
   * Everything one answer can show, counted. `meant`: the verdict on the body without its droppable
   * keys; a required field offered only behind __proto__ and accepted means the server used it.
   */
  private judge(exchange: Exchange & { verdict: Verdict }, meant: Verdict): void {
    const { answer, verdict, fuzzCase } = exchange;
    const valid = verdict.problems.length === 0;
    if (valid) this.tally.valid += 1;
    if (answer.status === 0) this.count('noAnswer', exchange, answer.failure);
    if (answer.status >= 500) this.count('fiveXx', exchange);
    if (isSuccess(answer) && !valid)
      this.count(
        'acceptedInvalid',
        exchange,
        `oracle: ${verdict.problems.join(', ')}`,
        acceptedLabel(verdict, meant),
      );
    if (isSuccess(answer) && fuzzCase.kind === PROTOTYPE_FILL && meant.problems.length)
      this.count(
        'pollution',
        exchange,
        `taken though without __proto__ it lacks ${meant.problems.join(', ')}`,
      );
    if (answer.status >= 400 && answer.status < 500) {
      if (valid) this.count('validRefused', exchange);
      else this.checkErrorBody(exchange, [...verdict.problems, ...meant.problems]);
    }
    if (this.tally.echoesSecret(answer.text)) this.count('echoedSecret', exchange);
    if (hasKey(answer.body, [this.canary, 'polluted', 'isAdmin']))
      this.count('pollution', exchange, 'canary key in answer');
  }

  private checkErrorBody(exchange: Exchange, problems: string[]): void {
    const problem = errorBodyProblem(exchange.answer.body, problems);
    if (problem) this.count('unnamedError', exchange, problem);
  }

  private async checkStored(
    exchange: Exchange,
    tenant: string,
    expected: PushConfig,
    version: number,
  ): Promise<boolean> {
    const inAnswer = differences(expected, version, exchange.answer.body);
    const read = await this.send('GET', '/mfa/push', tenant);
    const stored = differences(expected, version, read.body).map((difference) => `read back: ${difference}`);
    this.countDifferences(exchange, [...inAnswer, ...stored]);
    return inAnswer.length + stored.length > 0;
  }

  private countDifferences(exchange: Exchange, found: string[]): void {
    if (!found.length) return;
    this.count('storedDiffers', exchange, found.slice(0, 3).join('; '));
    // What a body hid behind __proto__ (a canary, a default overridden) must not surface either.
    const fromPrototype = exchange.fuzzCase.kind.startsWith('prototype key');
    if (fromPrototype || found.some((difference) => difference.startsWith('unexpected key')))
      this.count('pollution', exchange, `stored otherwise: ${found[0]}`);
  }

  private count(finding: Finding, exchange: Exchange, detail?: string, kind?: string): void {
    this.tally.count(finding, exchange, detail, kind);
  }
}

const FIGURE_NAMES: Record<Finding, string> = {
  fiveXx: '5xx responses',
  noAnswer: 'requests without an answer',
  acceptedInvalid: 'accepted-but-invalid',
  validRefused: 'valid bodies refused',
  storedDiffers: 'accepted but answered or stored otherwise',
  unnamedError: '4xx without an error naming the field',
  echoedSecret: 'answers echoing a private key',
  pollution: 'prototype pollution',
};

const isSuccess = (answer: ApiAnswer) => answer.status >= 200 && answer.status < 300;
const short = (text: string, max = 160) =>
  text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;

/** Why an invalid body was accepted: only for keys a JS server drops (named), or otherwise (its kind). */
function acceptedLabel(verdict: Verdict, meant: Verdict): string | undefined {
  if (meant.problems.length) return undefined;
  const keys = new Set(verdict.problems.map((problem) => problem.split('.').pop()));
  return `unknown key dropped silently: ${[...keys].join(', ')}`;
}

function kindsNote(kinds: Map<string, number>): string {
  return [...kinds].map(([kind, n]) => `${kind}: ${n}`).join(', ');
}

function describeExchange({ route, fuzzCase, answer }: Exchange, detail?: string): string {
  const media = fuzzCase.contentType === undefined ? '' : ` (${fuzzCase.contentType ?? 'no content type'})`;
  return (
    `${route} [${fuzzCase.kind}]${media} ${short(fuzzCase.text ?? '(no body)')} → ${answer.status} ` +
    `${short(answer.text)}${detail ? ` | ${detail}` : ''}`
  );
}

function probeExchange(failure: string): Exchange {
  return {
    route: 'probe',
    fuzzCase: { kind: 'probe' },
    answer: { status: 0, headers: new Headers(), text: failure, body: undefined },
  };
}

function detailPaths(body: unknown): string[] {
  const details = isPlainObject(body) && Array.isArray(body.details) ? body.details : [];
  return details.map((detail: unknown) => (isPlainObject(detail) ? String(detail.path) : ''));
}

/** A 4xx must say what is wrong; a validation error must name a field the oracle found wrong. */
function errorBodyProblem(body: unknown, problems: string[]): string | undefined {
  if (!isPlainObject(body) || typeof body.error !== 'string' || typeof body.error_description !== 'string')
    return 'no JSON {error, error_description} body';
  if (body.error !== 'validation_error' || problems.includes('')) return undefined;
  const paths = detailPaths(body);
  if (!paths.length) return 'a validation error without details';
  // The API cuts a long unknown field name short (`name…`): it names the field by its start.
  const within = (inner: string, outer: string) =>
    inner === outer ||
    inner.startsWith(`${outer}.`) ||
    inner.startsWith(`${outer}[`) ||
    outer === '' ||
    (outer.endsWith('…') && inner.startsWith(outer.slice(0, -1)));
  const related = (a: string, b: string) => within(a, b) || within(b, a);
  const named = paths.some((path) => problems.some((problem) => related(path, problem)));
  return named ? undefined : `names ${paths.join(', ')}; the oracle found ${problems.join(', ')}`;
}

/** Whether any object in `value` has one of `keys` as its own key (no recursion: bodies may be deep). */
function hasKey(value: unknown, keys: string[]): boolean {
  const pending = [value];
  while (pending.length) {
    const next = pending.pop();
    if (next === null || typeof next !== 'object') continue;
    if (!Array.isArray(next) && keys.some((key) => Object.hasOwn(next, key))) return true;
    pending.push(...Object.values(next));
  }
  return false;
}

function windowsOf(secrets: string[]): Set<string> {
  const windows = new Set<string>();
  for (const secret of secrets)
    for (let at = 0; at + 16 <= secret.length; at++) windows.add(secret.slice(at, at + 16));
  return windows;
}

async function inParallel<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: width }, worker));
}
