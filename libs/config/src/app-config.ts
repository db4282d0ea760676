import { hostname } from 'node:os';
import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import {
  TENANT_ID_PATTERN,
  TOPIC_NAME_VARIABLES,
  TopicKey,
  topicNameProblems,
  TopicNames,
} from '@lib/contracts';
import { EnvReader, pemCertificates } from './env-reader';

export type NodeEnvironment = 'development' | 'production' | 'test';
export type AuthMode = 'jwks' | 'public-key' | 'dev';
export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  /**
   * TLS beyond Node's defaults (PEM): `ca`, the brokers' own CA, trusted instead of the public ones;
   * `cert` and `key`, this client's certificate, for brokers that require one (mutual TLS).
   */
  tls?: { ca?: string; cert?: string; key?: string };
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
  /** Prepended to every default topic name, so that environments (or test runs) can share a cluster. */
  topicPrefix: string;
  /** Full names that replace a topic's prefixed default (KAFKA_TOPIC_CONFIG_CHANGED, ...). */
  topicNameOverrides: Partial<TopicNames>;
  createTopics: boolean;
  /** Partitions of the push request and result topics when created. */
  pushRequestPartitions: number;
  /** Partitions of the configuration changed and applied topics when created. */
  configTopicPartitions: number;
  /** How long the group waits for a silent member before giving its partitions to another one. */
  sessionTimeoutMs: number;
}

export interface AuthSettings {
  mode: AuthMode;
  jwksUri?: string;
  /** How soon after a JWKS fetch an unknown kid may trigger another (protects the IdP from floods). */
  jwksCooldownMs: number;
  publicKeyPem?: string;
  issuer: string;
  audience: string;
  algorithms: string[];
  tenantClaim: string;
  /**
   * The tenant of a token without the tenant claim; none by default, and such a token is refused: in a
   * multi-tenant deployment a token the identity provider forgot to give a tenant must not act on one.
   */
  defaultTenant?: string;
  /** The claims a token's scopes are read from: a space-separated string or an array of strings each. */
  scopeClaims: string[];
}

export interface DispatcherSettings {
  /** The small HTTP port for health checks. */
  httpPort: number;
  /** Names this replica's own consumer group for the broadcast config topic. */
  replicaId: string;
  consumerGroup: string;
  resyncIntervalMs: number;
  idleSessionTimeoutMs: number;
  sendTimeoutMs: number;
  /** Push requests of one partition handled at once; offsets still commit in order. */
  concurrencyPerPartition: number;
  /**
   * How long a push request partition that moved to this replica waits before it is read: its previous
   * owner's pushes in flight publish their results meanwhile, so they are not pushed again.
   */
  handoverGraceMs: number;
  /** Challenges remembered as handled (this replica's and, from the results topic, every replica's). */
  dedupCapacity: number;
  /**
   * A request whose first attempt failed is retried from mfa.push.retrying instead of in place. Off
   * only while replicas of a version without that topic run alongside (an upgrade, a rollback).
   */
  parkRetries: boolean;
}

/** Where the APNs/FCM SDKs are pointed instead of Apple and Google: only for a sandbox, never in production. */
export interface PushSandboxSettings {
  apnsEndpoint?: { host: string; port: number };
  fcmEndpoint?: string;
  /** The sandbox's certificate authority (PEM), read from PUSH_SANDBOX_CA_FILE at start-up. */
  caPem?: string;
}

export interface AppConfig {
  nodeEnv: NodeEnvironment;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** Dev keys and other local state live here, outside git. */
  localStateDir: string;
  mongodbUri: string;
  kafka: KafkaSettings;
  encryptionKeys?: string;
  api: {
    port: number;
    corsOrigins: string[];
    bodyLimitBytes: number;
    /** Requests per minute per client address (0: no limit), and how many may come at once. */
    rateLimitPerMinute: number;
    rateLimitBurst: number;
    /**
     * How long an idle client connection stays open: above a load balancer's own idle timeout (60 s on
     * most), or it reuses a connection the API is closing and answers its client 502.
     */
    keepAliveTimeoutMs: number;
  };
  shutdown: {
    /** After SIGTERM: how long the app keeps serving while red, for load balancers to stop routing to it. */
    drainMs: number;
    /** Then: how long in-flight work may take to finish before the process exits anyway (with 1). */
    graceMs: number;
  };
  auth: AuthSettings;
  dispatcher: DispatcherSettings;
  sandbox: PushSandboxSettings;
}

export const APP_CONFIG = Symbol('APP_CONFIG');

/** Node runs a timer of more than 2^31 - 1 ms after 1 ms instead, so no interval may be longer. */
const MAX_TIMER_MS = 2_147_483_647;

/** The app whose environment is read: only the config-api verifies admin tokens. */
export type AppName = 'config-api' | 'dispatcher';

/** A check of another library's (the keyring's), whose problems join the list of bad variables. */
export type ConfigCheck = (config: AppConfig) => string[];

/** The one place the process environment is read. */
export function loadAppConfigFromEnvironment(app: AppName, checks: ConfigCheck[] = []): AppConfig {
  return loadAppConfig(process.env, app, checks);
}

/** Validates the environment once and returns the typed configuration; throws naming every bad variable. */
export function loadAppConfig(
  env: Record<string, string | undefined>,
  app: AppName = 'config-api',
  checks: ConfigCheck[] = [],
): AppConfig {
  const read = new EnvReader(env);
  // The dispatcher never sees a token: the identity provider's settings are not asked of it.
  const verifiesTokens = app === 'config-api';
  const nodeEnv = read.oneOf<NodeEnvironment>(
    'NODE_ENV',
    ['development', 'production', 'test'],
    'development',
  );
  const authMode = read.oneOf<AuthMode>('AUTH_MODE', ['jwks', 'public-key', 'dev'], 'jwks');

  const config: AppConfig = {
    nodeEnv,
    logLevel: read.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], 'info'),
    localStateDir: resolve(read.string('LOCAL_STATE_DIR', '.local')),
    mongodbUri: readMongodbUri(read),
    kafka: readKafka(read),
    encryptionKeys: read.optional('MFA_ENCRYPTION_KEYS'),
    api: {
      port: read.int('PORT', 3000, 0, 65535),
      corsOrigins: read.list('CORS_ORIGINS'),
      bodyLimitBytes: read.int('API_BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
      rateLimitPerMinute: read.int('API_RATE_LIMIT_PER_MINUTE', 1200, 0, 10_000_000),
      rateLimitBurst: read.int('API_RATE_LIMIT_BURST', 200, 1, 10_000_000),
      keepAliveTimeoutMs: read.int('API_KEEP_ALIVE_TIMEOUT_MS', 65_000, 1000, 600_000),
    },
    shutdown: {
      drainMs: read.int('SHUTDOWN_DRAIN_MS', 0, 0, 120_000),
      graceMs: read.int('SHUTDOWN_GRACE_MS', 25_000, 1000, 600_000),
    },
    auth: {
      mode: authMode,
      jwksUri: read.optional('AUTH_JWKS_URI'),
      // At least a second: without a cooldown every token with a made-up kid makes the API fetch the
      // key set, so anyone can turn it against the identity provider.
      jwksCooldownMs: read.int('AUTH_JWKS_COOLDOWN_MS', 30_000, 1000, 3_600_000),
      publicKeyPem: read.optional('AUTH_PUBLIC_KEY')?.replace(/\\n/g, '\n'),
      issuer: read.string('AUTH_ISSUER', authMode === 'dev' || !verifiesTokens ? 'push-mfa-dev' : undefined),
      audience: read.string(
        'AUTH_AUDIENCE',
        authMode === 'dev' || !verifiesTokens ? 'push-mfa-api' : undefined,
      ),
      algorithms: read.list('AUTH_ALGORITHMS', ['RS256', 'ES256']),
      tenantClaim: read.string('AUTH_TENANT_CLAIM', 'tenant_id'),
      defaultTenant: read.optional('AUTH_DEFAULT_TENANT'),
      // Not `permissions` unless asked: Auth0 lists there everything the user may do, also what this
      // token was not granted (a dashboard asking for read:mfa only would get a token that can write).
      scopeClaims: read.list('AUTH_SCOPE_CLAIMS', ['scope']),
    },
    dispatcher: {
      httpPort: read.int('DISPATCHER_PORT', 3001, 0, 65535),
      replicaId: read.string('DISPATCHER_REPLICA_ID', `${hostname()}-${randomUUID().slice(0, 8)}`),
      consumerGroup: read.string('DISPATCHER_CONSUMER_GROUP', 'mfa-dispatcher'),
      resyncIntervalMs: read.int('CONFIG_RESYNC_INTERVAL_MS', 5 * 60_000, 1000, MAX_TIMER_MS),
      idleSessionTimeoutMs: read.int('PUSH_IDLE_SESSION_TIMEOUT_MS', 5 * 60_000, 1000, MAX_TIMER_MS),
      sendTimeoutMs: read.int('PUSH_SEND_TIMEOUT_MS', 10_000, 100, MAX_TIMER_MS),
      concurrencyPerPartition: read.int('DISPATCHER_CONCURRENCY_PER_PARTITION', 64, 1, 10_000),
      handoverGraceMs: read.int('DISPATCHER_HANDOVER_GRACE_MS', 2000, 0, 60_000),
      dedupCapacity: read.int('DISPATCHER_DEDUP_CAPACITY', 200_000, 1000, 10_000_000),
      parkRetries: read.bool('DISPATCHER_PARK_RETRIES', true),
    },
    sandbox: readSandbox(read),
  };

  if (verifiesTokens) checkTokenVerification(read, config.auth, nodeEnv);
  // PLAIN sends the password itself on every connection: on the network in clear without TLS.
  if (nodeEnv === 'production' && config.kafka.sasl?.mechanism === 'plain' && !config.kafka.ssl)
    read.fail(
      'KAFKA_SASL_MECHANISM=plain without KAFKA_SSL=true sends the Kafka password in clear and is refused in production: set KAFKA_SSL=true, or use scram-sha-256 or scram-sha-512',
    );
  if (nodeEnv === 'production' && authMode === 'dev')
    read.fail('AUTH_MODE=dev trusts a locally generated key and is refused when NODE_ENV=production');
  if (nodeEnv === 'production' && !config.encryptionKeys)
    read.fail('MFA_ENCRYPTION_KEYS is required in production (kid:base64-32-byte-key[,kid:key...])');
  else if (authMode !== 'dev' && !config.encryptionKeys)
    read.fail(
      'MFA_ENCRYPTION_KEYS is not set: secrets cannot be stored. Set it to kid:base64-32-byte-key (openssl rand -base64 32), or run with AUTH_MODE=dev for local development.',
    );
  if (nodeEnv === 'production' && (config.sandbox.apnsEndpoint || config.sandbox.fcmEndpoint))
    read.fail(
      'APNS_ENDPOINT / FCM_ENDPOINT point the SDKs away from Apple and Google and are refused in production',
    );
  // A trusted extra CA would let whoever holds its key read and answer every push in production.
  if (nodeEnv === 'production' && read.optional('PUSH_SANDBOX_CA_FILE') !== undefined)
    read.fail('PUSH_SANDBOX_CA_FILE trusts a sandbox certificate authority and is refused in production');
  checks.flatMap((check) => check(config)).forEach((problem) => read.fail(problem));

  read.throwIfInvalid();
  return config;
}

/**
 * Signature algorithms a token may use: public-key ones only. An HMAC algorithm would let anyone who
 * knows the public key (everyone) sign tokens with it.
 */
const TOKEN_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

/** Where the config-api gets the keys admin tokens are checked with, and which signatures it accepts. */
function checkTokenVerification(read: EnvReader, auth: AuthSettings, nodeEnv: NodeEnvironment): void {
  if (auth.mode === 'jwks' && !auth.jwksUri)
    read.fail(
      'AUTH_JWKS_URI is required when AUTH_MODE=jwks (the default); for local development without an identity provider, AUTH_MODE=dev trusts the tokens `npm run token` signs',
    );
  if (auth.mode === 'public-key' && !auth.publicKeyPem)
    read.fail('AUTH_PUBLIC_KEY (a PEM public key) is required when AUTH_MODE=public-key');
  checkJwksUri(read, auth.jwksUri, nodeEnv);
  if (auth.defaultTenant !== undefined && !new RegExp(TENANT_ID_PATTERN).test(auth.defaultTenant))
    read.fail(`AUTH_DEFAULT_TENANT must be a tenant id (${TENANT_ID_PATTERN}) (got "${auth.defaultTenant}")`);
  if (auth.scopeClaims.length === 0)
    read.fail('AUTH_SCOPE_CLAIMS must name at least one claim, such as scope (or scope,permissions)');
  const unknownAlgorithms = auth.algorithms.filter((algorithm) => !TOKEN_ALGORITHMS.includes(algorithm));
  if (unknownAlgorithms.length > 0 || auth.algorithms.length === 0)
    read.fail(
      `AUTH_ALGORITHMS must name signature algorithms of public keys, from ${TOKEN_ALGORITHMS.join(', ')} (got ${unknownAlgorithms.join(', ') || 'none'}); names are case-sensitive`,
    );
  if (auth.mode === 'public-key' && auth.publicKeyPem)
    checkPublicKey(read, auth.publicKeyPem, auth.algorithms);
}

/** Which key type each token algorithm verifies with (node:crypto's asymmetricKeyType). */
const ALGORITHM_KEY_TYPES: Record<string, string[]> = {
  RS: ['rsa'],
  PS: ['rsa', 'rsa-pss'],
  ES: ['ec'],
  Ed: ['ed25519', 'ed448'],
};

/** AUTH_PUBLIC_KEY read now, so that a bad one stops the start naming it, not with OpenSSL's stack. */
function checkPublicKey(read: EnvReader, pem: string, algorithms: string[]): void {
  if (/PRIVATE KEY/.test(pem)) {
    read.fail(
      'AUTH_PUBLIC_KEY holds a private key: give the public key only (openssl pkey -in KEY -pubout), and keep the private key with the identity provider',
    );
    return;
  }
  let type: string | undefined;
  try {
    type = createPublicKey(pem).asymmetricKeyType;
  } catch {
    read.fail('AUTH_PUBLIC_KEY must be a PEM public key (-----BEGIN PUBLIC KEY-----, \\n escapes accepted)');
    return;
  }
  const usable = algorithms.filter((algorithm) =>
    ALGORITHM_KEY_TYPES[algorithm.slice(0, 2)]?.includes(type ?? ''),
  );
  if (usable.length === 0)
    read.fail(
      `AUTH_ALGORITHMS (${algorithms.join(',')}) has no algorithm that verifies with AUTH_PUBLIC_KEY, an ${type} key: every token would get 401`,
    );
}

/** The identity provider's keys decide who is an admin: in production they come over TLS only. */
function checkJwksUri(read: EnvReader, uri: string | undefined, nodeEnv: NodeEnvironment): void {
  if (uri === undefined) return;
  let protocol: string;
  try {
    protocol = new URL(uri).protocol;
  } catch {
    read.fail(
      `AUTH_JWKS_URI must be a URL, such as https://idp.example.com/.well-known/jwks.json (got "${uri}")`,
    );
    return;
  }
  if (protocol !== 'https:' && protocol !== 'http:')
    read.fail(`AUTH_JWKS_URI must be an https:// URL (got "${uri}")`);
  else if (protocol === 'http:' && nodeEnv === 'production')
    read.fail(
      `AUTH_JWKS_URI must be https:// in production: over plain HTTP, anyone on the way can hand the API keys of their own and sign admin tokens (got "${uri}")`,
    );
}

function readKafka(read: EnvReader): KafkaSettings {
  const mechanism = read.optional('KAFKA_SASL_MECHANISM');
  const settings: KafkaSettings = {
    brokers: readBrokers(read),
    clientId: read.string('KAFKA_CLIENT_ID', 'push-mfa'),
    ssl: read.bool('KAFKA_SSL', false),
    topicPrefix: read.string('KAFKA_TOPIC_PREFIX', ''),
    topicNameOverrides: readTopicNameOverrides(read),
    createTopics: read.bool('KAFKA_CREATE_TOPICS', true),
    pushRequestPartitions: read.int('KAFKA_PUSH_PARTITIONS', 6, 1, 1000),
    // Configuration topics carry little traffic; a few partitions keep each tenant's events in order.
    configTopicPartitions: read.int('KAFKA_CONFIG_PARTITIONS', 3, 1, 1000),
    // kafkajs's 30 s default leaves a dead replica's requests (or, after a broker restart, the old
    // membership's) waiting half a minute; handlers heartbeat at least every second, even mid-retry.
    sessionTimeoutMs: read.int('KAFKA_SESSION_TIMEOUT_MS', 10_000, 6000, 300_000),
  };
  topicNameProblems(settings).forEach((problem) => read.fail(problem));
  settings.tls = readKafkaTls(read, settings.ssl);
  if (mechanism !== undefined) {
    settings.sasl = {
      // Kafka spells them in capitals (SCRAM-SHA-512), kafkajs in lower case: either is taken.
      mechanism: read.oneOf<SaslMechanism>(
        'KAFKA_SASL_MECHANISM',
        ['plain', 'scram-sha-256', 'scram-sha-512'],
        'plain',
        { ignoreCase: true },
      ),
      username: read.string('KAFKA_SASL_USERNAME'),
      password: read.string('KAFKA_SASL_PASSWORD'),
    };
  }
  return settings;
}

/** host:port, each: kafkajs takes anything and fails later, naming no variable. */
function readBrokers(read: EnvReader): string[] {
  const brokers = read.list('KAFKA_BROKERS', ['127.0.0.1:9092']);
  const malformed = brokers.filter((broker) => !/^[^\s:/]+:\d{1,5}$/.test(broker));
  if (malformed.length > 0 || brokers.length === 0)
    read.fail(
      `KAFKA_BROKERS must be comma-separated host:port, such as kafka-1:9092,kafka-2:9092 (got "${malformed.join(',')}"; kafkajs takes no IPv6 address: use a host name)`,
    );
  return brokers;
}

/** Never quoted in a message: the URI may hold a password. */
function readMongodbUri(read: EnvReader): string {
  const uri = read.string('MONGODB_URI', 'mongodb://127.0.0.1:27017/push_mfa');
  if (!/^mongodb(\+srv)?:\/\/[^/?]+/.test(uri))
    read.fail(
      'MONGODB_URI must be a MongoDB connection string, mongodb://host:port/database or mongodb+srv://host/database',
    );
  return uri;
}

const KAFKA_TLS_FILES = ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'];

/** The files of KafkaSettings.tls, read and checked at start-up. */
function readKafkaTls(read: EnvReader, ssl: boolean): NonNullable<KafkaSettings['tls']> {
  const set = KAFKA_TLS_FILES.filter((name) => read.optional(name) !== undefined);
  if (set.length > 0 && !ssl)
    read.fail(
      `${set.join(' and ')} ${set.length > 1 ? 'are' : 'is'} set but KAFKA_SSL is not true: set KAFKA_SSL=true to reach the brokers over TLS`,
    );
  if (set.includes('KAFKA_SSL_CERT_FILE') !== set.includes('KAFKA_SSL_KEY_FILE'))
    read.fail(
      'KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together: the client certificate and its private key',
    );
  const tls = {
    ca: read.certificatesFile('KAFKA_SSL_CA_FILE'),
    cert: read.certificatesFile('KAFKA_SSL_CERT_FILE'),
    key: read.privateKeyFile('KAFKA_SSL_KEY_FILE'),
  };
  if (tls.cert && tls.key && !pemCertificates(tls.cert)[0].checkPrivateKey(createPrivateKey(tls.key)))
    read.fail(
      "KAFKA_SSL_KEY_FILE is not the private key of the first certificate in KAFKA_SSL_CERT_FILE (the client's own certificate comes first, then its chain)",
    );
  return tls;
}

function readTopicNameOverrides(read: EnvReader): Partial<TopicNames> {
  const overrides: Partial<TopicNames> = {};
  for (const [key, variable] of Object.entries(TOPIC_NAME_VARIABLES) as [TopicKey, string][]) {
    const name = read.optional(variable);
    if (name !== undefined) overrides[key] = name;
  }
  return overrides;
}

function readSandbox(read: EnvReader): PushSandboxSettings {
  const apns = read.optional('APNS_ENDPOINT');
  let apnsEndpoint: PushSandboxSettings['apnsEndpoint'];
  if (apns !== undefined) {
    const match = /^([^:]+):(\d{1,5})$/.exec(apns);
    if (match) apnsEndpoint = { host: match[1], port: Number(match[2]) };
    else read.fail(`APNS_ENDPOINT must be host:port (got "${apns}")`);
  }
  const fcmEndpoint = read.optional('FCM_ENDPOINT');
  if (fcmEndpoint !== undefined && !/^https:\/\/[^/]+$/.test(fcmEndpoint))
    read.fail(`FCM_ENDPOINT must be https://host:port with no path (got "${fcmEndpoint}")`);
  return { apnsEndpoint, fcmEndpoint, caPem: read.certificatesFile('PUSH_SANDBOX_CA_FILE') };
}
