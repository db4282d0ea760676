import { createPrivateKey, KeyObject } from 'node:crypto';
import { MAX_ENABLED_CLIENTS, MfaConfiguration } from './mfa-configuration';

export interface FieldProblem {
  path: string;
  message: string;
}

const TEN_UPPER_ALPHANUMERICS = /^[A-Z0-9]{10}$/;
// Apple: letters, digits, hyphens and periods; reverse-DNS is a recommendation, so one part will do.
const BUNDLE_ID = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;
/**
 * Control and invisible (format) characters, which make an id look like another: zero-width space,
 * byte-order mark, direction marks, tag characters. A zero-width (non-)joiner stays allowed between two
 * non-ASCII characters, where Persian and Indic text and emoji sequences need it.
 */
const INVISIBLE_IN_IDS =
  /\p{Cc}|(?![\u200C\u200D])\p{Cf}|(?:^|[\0-\x7F])[\u200C\u200D]|[\u200C\u200D](?:$|[\0-\x7F])/u;
/**
 * Printable ASCII, as Google's service-account emails are: an invisible character pasted with it would
 * pass a looser check, apply cleanly, and fail every FCM push at the token exchange (invalid_grant).
 */
const SERVICE_ACCOUNT_EMAIL = /^[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+$/;
// Firebase/Google Cloud project ids: 6-30 characters, lower-case letters, digits and hyphens, starting with a letter.
const FIREBASE_PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

/**
 * A PEM as pasted: newlines escaped as `\n` or `\r\n` (service-account JSON copied as a string),
 * Windows line ends, or lines indented (copied from YAML or a template) all read as the key itself.
 */
export function normalizePem(pem: string): string {
  const lines = pem.replace(/\\r\\n|\\n/g, '\n').split(/\r?\n/);
  return `${lines
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .join('\n')}\n`;
}

/** Parses a .p8 APNs key: PKCS#8 PEM holding an EC P-256 private key. Throws with the reason otherwise. */
export function parseApnsKey(pem: string): KeyObject {
  const normalized = normalizePem(pem);
  if (!normalized.startsWith('-----BEGIN PRIVATE KEY-----'))
    throw new Error('must be the .p8 file content: a PKCS#8 PEM starting with -----BEGIN PRIVATE KEY-----');
  const key = parsePrivateKey(normalized);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new Error('must be an EC P-256 private key, as Apple issues for APNs');
  return key;
}

/** Parses a service account's private key (PEM, `\n`-escaped or not) as an RSA private key. */
export function parseFcmPrivateKey(pem: string): KeyObject {
  const key = parsePrivateKey(normalizePem(pem));
  if (key.asymmetricKeyType !== 'rsa')
    throw new Error('must be an RSA private key, as in a service account JSON');
  return key;
}

/**
 * Google issues 2048-bit service-account keys. A much larger one would still parse, but each access
 * token signed with it (16384 bits: a third of a second) would hold the dispatcher's one thread for
 * every tenant. Checked when a key is written, not when a stored one is loaded: a tenant's APNs must
 * not go down with it.
 */
const FCM_KEY_BITS = { min: 2048, max: 4096 };

function fcmKeySizeProblem(key: KeyObject): string | undefined {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < FCM_KEY_BITS.min || bits > FCM_KEY_BITS.max)
    return `must be an RSA key of ${FCM_KEY_BITS.min} to ${FCM_KEY_BITS.max} bits, as Google issues for service accounts (got ${bits})`;
  return undefined;
}

function parsePrivateKey(pem: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error('is not a readable PEM private key');
  }
}

/**
 * The rules a whole configuration must meet beyond its shape; applied to the result of every create
 * and every merged update, so a PATCH cannot leave an invalid configuration behind.
 */
export function checkConfigurationRules(config: MfaConfiguration): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  const { settings } = config;

  const seen = new Set<string>();
  // Empty, an enabled configuration would refuse every push (client_not_enabled). A disabled one may
  // be empty: stopping pushes with enabled=false must work whatever an older version stored.
  if (config.enabled && settings.enabled_clients.length === 0)
    problem(
      'settings.enabled_clients',
      'must name at least one client while enabled: pushes are sent only for the clients listed (to stop them all, set enabled to false)',
    );
  if (settings.enabled_clients.length > MAX_ENABLED_CLIENTS)
    problem('settings.enabled_clients', `must hold at most ${MAX_ENABLED_CLIENTS} client ids`);
  settings.enabled_clients.forEach((client, index) => {
    const path = `settings.enabled_clients.${index}`;
    if (client.trim().length === 0) problem(path, 'must not be empty');
    // Requests are matched to the list exactly: an id that looks like the one services send but is not
    // refuses their pushes silently. Stored so by an earlier version, it does not block disabling.
    else if (config.enabled && (client.trim() !== client || INVISIBLE_IN_IDS.test(client)))
      problem(
        path,
        'must not start or end with white space, nor hold control or invisible characters (zero-width space, byte-order mark, direction marks; a zero-width joiner only between non-ASCII characters)',
      );
    else if (seen.has(client)) problem(path, `duplicates "${client}"`);
    seen.add(client);
  });

  // A PATCH that adds apns or fcm to a configuration without it may leave required fields out.
  const complete = (section: 'apns' | 'fcm', fields: readonly string[]): boolean => {
    const values = settings[section] as unknown as Record<string, unknown> | undefined;
    if (!values) return false;
    const missing = fields.filter((field) => typeof values[field] !== 'string');
    missing.forEach((field) => problem(`settings.${section}.${field}`, 'is required'));
    return missing.length === 0;
  };

  if (complete('apns', ['bundle_id', 'key', 'key_id', 'team_id']) && settings.apns) {
    const { apns } = settings;
    if (!BUNDLE_ID.test(apns.bundle_id))
      problem(
        'settings.apns.bundle_id',
        "must be the app's bundle id: letters, digits, hyphens and periods, such as com.example.app",
      );
    if (!TEN_UPPER_ALPHANUMERICS.test(apns.key_id))
      problem(
        'settings.apns.key_id',
        'must be the 10-character key id (A-Z, 0-9) shown with the key at Apple',
      );
    if (!TEN_UPPER_ALPHANUMERICS.test(apns.team_id))
      problem(
        'settings.apns.team_id',
        'must be the 10-character team id (A-Z, 0-9) of the Apple developer account',
      );
    try {
      parseApnsKey(apns.key);
    } catch (error) {
      problem('settings.apns.key', (error as Error).message);
    }
  }

  if (complete('fcm', ['client_email', 'private_key', 'project_id']) && settings.fcm) {
    const { fcm } = settings;
    if (!SERVICE_ACCOUNT_EMAIL.test(fcm.client_email))
      problem(
        'settings.fcm.client_email',
        'must be the service account email, client_email in its JSON key file (printable ASCII, such as name@project.iam.gserviceaccount.com, with no spaces or invisible characters)',
      );
    if (!FIREBASE_PROJECT_ID.test(fcm.project_id))
      problem(
        'settings.fcm.project_id',
        'must be a Firebase project id: 6-30 lower-case letters, digits or hyphens, starting with a letter',
      );
    try {
      const sizeProblem = fcmKeySizeProblem(parseFcmPrivateKey(fcm.private_key));
      if (sizeProblem) problem('settings.fcm.private_key', sizeProblem);
    } catch (error) {
      problem('settings.fcm.private_key', (error as Error).message);
    }
  }

  if (config.enabled && !settings.apns && !settings.fcm)
    problem('settings', 'an enabled push configuration needs settings.apns or settings.fcm (or both)');
  return problems;
}
