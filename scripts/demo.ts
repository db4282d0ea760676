/**
 * `npm run demo`, against a running `npm run stack`: configures two tenants through the REST API
 * (one approve/deny, one number matching), asks for a challenge for each over Kafka with the
 * push-client library, and prints what the phone receives and the result events.
 */
import { createPublicKey, generateKeyPairSync, randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAppConfig } from '../libs/config/src';
import { PushClient } from '../libs/push-client/src';
import { signDevToken } from '../apps/config-api/src/auth/dev-signing-key';
import { kafkaBrokers } from '../test/support/local-servers';

// The broker where `npm run stack` put it (KAFKA_PORT moves it, as the infra scripts do).
const config = loadAppConfig({ ...process.env, KAFKA_BROKERS: kafkaBrokers(), AUTH_MODE: 'dev' });
const api = process.env.DEMO_API_URL ?? `http://127.0.0.1:${config.api.port}`;
const sandbox = JSON.parse(readFileSync(join(config.localStateDir, 'sandbox', 'endpoints.json'), 'utf8')) as {
  control: string;
};
const TEAM = 'DEMOTEAM01';
const BUNDLE = 'com.example.authenticator';

const say = (line = '') => process.stdout.write(`${line}\n`);
const pretty = (value: unknown) => JSON.stringify(value, null, 2).replace(/^/gm, '    ');

// The demo prints whatever the API answers; its shape is the API's contract, checked by the e2e tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ApiBody = Record<string, any>;

async function call(method: string, path: string, token: string, body?: unknown) {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as ApiBody) : ({} as ApiBody) };
}

async function sandboxPost(path: string, body: unknown): Promise<void> {
  const response = await fetch(`${sandbox.control}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`sandbox ${path}: ${response.status}`);
}

/** Creates the tenant's push configuration with fresh keys the sandbox trusts, and waits until it is live. */
async function configureTenant(tenant: string, strategy: 'code' | 'prompt'): Promise<void> {
  const token = await signDevToken(config.localStateDir, {
    tenant,
    scopes: ['write:mfa', 'read:mfa', 'delete:mfa'],
  });
  const apnsKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const fcmKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const keyId = `D${randomUUID().replace(/-/g, '').slice(0, 9).toUpperCase()}`;
  const projectId = `demo-${tenant}`;
  const clientEmail = `push@${projectId}.iam.gserviceaccount.com`;
  const pem = (key: typeof apnsKey) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicPem = (key: typeof apnsKey) =>
    createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  await sandboxPost('/apns/keys', { key_id: keyId, team_id: TEAM, public_key: publicPem(apnsKey) });
  await sandboxPost('/fcm/service-accounts', {
    client_email: clientEmail,
    public_key: publicPem(fcmKey),
    project_id: projectId,
  });

  await call('DELETE', '/mfa/push', token);
  const created = await call('POST', '/mfa', token, {
    enabled: true,
    provider: 'native',
    type: 'push',
    settings: {
      enabled_clients: ['web-login'],
      strategy,
      apns: { bundle_id: BUNDLE, key: pem(apnsKey), key_id: keyId, team_id: TEAM, production: false },
      fcm: { client_email: clientEmail, private_key: pem(fcmKey), project_id: projectId },
    },
  });
  if (created.status !== 201)
    throw new Error(`POST /mfa for ${tenant}: ${created.status} ${JSON.stringify(created.body)}`);
  say(
    `  POST /mfa (tenant ${tenant}, strategy ${strategy}) → 201, version ${created.body.version}, apns.key ${created.body.settings.apns.key}, ${created.body.settings.apns.key_fingerprint}`,
  );
  let seen: unknown;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    const current = await call('GET', '/mfa/push', token);
    seen = current.body.status;
    if (current.body.status?.version === current.body.version && current.body.status.state === 'applied') {
      say(`  GET /mfa/push → status ${JSON.stringify(current.body.status)}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(
    `the dispatcher did not report ${tenant}'s configuration v${created.body.version} as applied within 30 s ` +
      `(last status: ${JSON.stringify(seen ?? null)}); is it running? Its log is in ${join(config.localStateDir, 'logs')}`,
  );
}

async function main(): Promise<void> {
  say(`1. Admin configures two tenants through ${api}`);
  await configureTenant('demo-prompt', 'prompt');
  await configureTenant('demo-code', 'code');

  const client = new PushClient(config.kafka);
  await client.connect({ awaitResults: true });
  const expiresAt = new Date(Date.now() + 120_000).toISOString();
  const context = {
    app_name: 'Acme Portal',
    ip: '203.0.113.7',
    location: 'Lisbon, PT',
    user_agent: 'Firefox 140',
  };
  const prompt = {
    challenge_id: `demo-${randomUUID()}`,
    tenant: 'demo-prompt',
    client_id: 'web-login',
    device: { provider: 'apns' as const, token: randomUUID().replace(/-/g, '').repeat(2) },
    context,
    context_token: 'opaque-token-signed-by-the-identity-provider',
    expires_at: expiresAt,
  };
  const code = String(randomInt(100)).padStart(2, '0');
  const numberMatch = {
    challenge_id: `demo-${randomUUID()}`,
    tenant: 'demo-code',
    client_id: 'web-login',
    code,
    device: { provider: 'fcm' as const, token: `demo-fcm-${randomUUID()}` },
    context,
    expires_at: expiresAt,
  };
  say();
  say('2. An internal service asks for challenges on Kafka (mfa.push.requested)');
  say(
    `  prompt (approve/deny) to an iPhone, and number matching to an Android phone; the sign-in page shows ${code}`,
  );
  const started = Date.now();
  await Promise.all([client.requestChallenge(prompt), client.requestChallenge(numberMatch)]);
  const results = await Promise.all([
    client.awaitResult(prompt.challenge_id),
    client.awaitResult(numberMatch.challenge_id),
  ]);
  const elapsed = Date.now() - started;
  await client.close();

  const deliveries = (await (await fetch(`${sandbox.control}/deliveries`)).json()) as {
    apns: { token: string; headers: Record<string, string>; payload: unknown }[];
    fcm: { message: { token: string } }[];
  };
  say();
  say('3. What the phones receive (from the local APNs/FCM sandbox)');
  say('  iPhone (APNs):');
  say(pretty(deliveries.apns.find((d) => d.token === prompt.device.token)));
  say('  Android (FCM):');
  say(pretty(deliveries.fcm.find((d) => d.message.token === numberMatch.device.token)));
  say();
  say(`4. Results on mfa.push.results (both within ${elapsed} ms)`);
  for (const result of results) say(pretty(result));
  const allSent = results.every((result) => result.status === 'sent');
  say();
  say(allSent ? 'Demo OK: both challenges were delivered.' : 'Demo FAILED: see the results above.');
  process.exit(allSent ? 0 : 1);
}

main().catch((error: Error) => {
  process.stderr.write(`demo: ${error.message}\n`);
  process.exit(1);
});
