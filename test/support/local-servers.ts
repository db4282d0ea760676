/**
 * The servers the tests, the benchmark, the chaos campaign and the demo use: KAFKA_BROKERS and MONGODB_URI when
 * set, otherwise the project's own (scripts/infra, on KAFKA_PORT and MONGO_PORT). Whether a setting
 * names the project's own servers is decided as scripts/infra/kafka.sh and mongo.sh decide it: those
 * are the servers the scripts can stop, and the only ones a run may purge.
 */
const kafkaPort = () => process.env.KAFKA_PORT ?? '9092';
const mongoPort = () => process.env.MONGO_PORT ?? '27017';

export const kafkaBrokers = (): string => process.env.KAFKA_BROKERS ?? `127.0.0.1:${kafkaPort()}`;
export const mongoUri = (): string =>
  process.env.MONGODB_URI ?? `mongodb://127.0.0.1:${mongoPort()}/push_mfa`;

export function kafkaIsOurs(): boolean {
  return [`127.0.0.1:${kafkaPort()}`, `localhost:${kafkaPort()}`].includes(kafkaBrokers());
}

export function mongoIsOurs(): boolean {
  return [`mongodb://127.0.0.1:${mongoPort()}`, `mongodb://localhost:${mongoPort()}`].some((prefix) =>
    mongoUri().startsWith(prefix),
  );
}

/** Mechanisms whose users live in `$external`, which the driver picks itself. */
const EXTERNAL_AUTH = ['MONGODB-X509', 'MONGODB-AWS', 'GSSAPI', 'PLAIN', 'MONGODB-OIDC'];

/**
 * `uri` with another database. Not through `URL`, which refuses the host lists of replica sets. The
 * driver authenticates against the URI's database (`admin` without one) unless `authSource` names
 * one, so a URI with credentials keeps authenticating where it did. (A mongodb+srv:// URI without a
 * database may get `authSource` from its DNS TXT record: left to it.)
 */
export function withDatabase(uri: string, database: string): string {
  const parts = /^(mongodb(?:\+srv)?:\/\/)([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/.exec(uri);
  if (!parts) throw new Error('MONGODB_URI is not a mongodb:// or mongodb+srv:// URI');
  const [, scheme, authority, path = '', query = ''] = parts;
  const options = new URLSearchParams(query);
  // The driver reads option names and this one's value in any case.
  const option = (name: string) =>
    [...options].find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
  const keepsWhereItAuthenticates =
    authority.includes('@') &&
    option('authSource') === undefined &&
    !EXTERNAL_AUTH.includes((option('authMechanism') ?? '').toUpperCase()) &&
    (path !== '' || scheme === 'mongodb://');
  if (keepsWhereItAuthenticates) options.set('authSource', decodeURIComponent(path) || 'admin');
  const rest = options.toString();
  return `${scheme}${authority}/${database}${rest ? `?${rest}` : ''}`;
}
