import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { apnsP8Key, rsaKeyPair } from '../../test/fixtures/keys';
import { pushConfigBody } from '../../test/fixtures/mfa-config.builder';
import { ApiClient, ApiRequest, startTrustingApi, TokenIssuer } from '../support/api-client';
import type { ChaosContext, ChaosSize } from '../support/chaos-context';
import { readTopic } from '../support/delivery-audit';
import type { Figure } from '../support/figures';
import { SecretScanner } from '../support/secret-scanner';

const SCENARIO = 'secret-scan';

/**
 * Last in the campaign: every log the apps wrote, every message on this run's topics, the answers of
 * the API to a configuration's whole life, and every document in this run's databases, searched for
 * private key material. Each must hold none.
 */
export async function secretScan(ctx: ChaosContext, _size: ChaosSize): Promise<Figure[]> {
  const apnsKey = apnsP8Key();
  const fcmKey = rsaKeyPair().privatePem;
  const scanner = new SecretScanner().knowKeys([ctx.credentials.apns, ctx.credentials.fcm, apnsKey, fcmKey]);
  const answers = await configurationLife(ctx, apnsKey, fcmKey);
  const figure = (where: string, hits: number, scanned: string): Figure => ({
    scenario: SCENARIO,
    name: `private key material in ${where}`,
    value: hits,
    expect: 'zero',
    note: scanned,
  });
  const logs = scanLogs(ctx, scanner);
  const topics = await scanTopics(ctx, scanner);
  const database = await scanDatabases(ctx, scanner);
  // A scanner that finds nothing proves nothing: it must find the keys where they are in plain sight.
  const planted = [apnsKey, fcmKey.replace(/\n/g, '\\n'), JSON.stringify({ key: fcmKey })];
  const missed = planted.filter((text) => scanner.hits(text) === 0).length;
  return [
    {
      scenario: SCENARIO,
      name: 'planted keys the scanner missed (self-test)',
      value: missed,
      expect: 'zero',
    },
    figure(
      'API responses',
      answers.reduce((sum, text) => sum + scanner.hits(text), 0),
      `${answers.length} responses`,
    ),
    figure('logs', logs.hits, `${logs.files} files, ${Math.round(logs.bytes / 1024)} KiB`),
    figure('Kafka topics', topics.hits, `${topics.topics} topics, ${topics.messages} messages`),
    figure('the database', database.hits, `${database.databases} databases, ${database.documents} documents`),
  ];
}

/** Creates, reads, lists, changes, re-creates (409), breaks (400) and deletes a configuration. */
async function configurationLife(ctx: ChaosContext, apnsKey: string, fcmKey: string): Promise<string[]> {
  const issuer = new TokenIssuer();
  const api = ApiClient.of(await startTrustingApi(ctx, SCENARIO, issuer));
  const token = await issuer.token('secrets');
  const body = pushConfigBody({
    settings: {
      apns: { ...pushConfigBody().settings.apns, key: apnsKey },
      fcm: { ...pushConfigBody().settings.fcm, private_key: fcmKey },
    },
  });
  const requests: ApiRequest[] = [
    { method: 'POST', path: '/mfa', token, json: body },
    { method: 'GET', path: '/mfa/push', token },
    { method: 'GET', path: '/mfa', token },
    { method: 'POST', path: '/api/v1/mfa/', token, json: body },
    { method: 'PATCH', path: '/mfa/push', token, json: { settings: { apns: { key: apnsKey } } } },
    // Refused bodies that carry a key: the error must name the field, never echo the value.
    {
      method: 'PATCH',
      path: '/mfa/push',
      token,
      json: { settings: { apns: { key: `${apnsKey}x`, key_id: 5 } } },
    },
    {
      method: 'PATCH',
      path: '/mfa/push',
      token,
      json: { settings: { fcm: { private_key: fcmKey, unknown: 1 } } },
    },
    { method: 'POST', path: '/mfa', token: await issuer.token('other'), json: { ...body, enabled: 'yes' } },
    { method: 'DELETE', path: '/mfa/push', token },
  ];
  const answers: string[] = [];
  for (const request of requests) {
    const answer = await api.send(request);
    answers.push(`${[...answer.headers].join('\n')}\n${answer.text}`);
  }
  return answers;
}

function scanLogs(ctx: ChaosContext, scanner: SecretScanner): { hits: number; files: number; bytes: number } {
  let hits = 0;
  let bytes = 0;
  const files = readdirSync(ctx.logDir);
  for (const file of files) {
    const text = readFileSync(join(ctx.logDir, file), 'utf8');
    bytes += text.length;
    hits += scanner.hits(text);
  }
  return { hits, files: files.length, bytes };
}

async function scanTopics(ctx: ChaosContext, scanner: SecretScanner) {
  const admin = ctx.kafka.admin();
  await admin.connect();
  const topics = (await admin.listTopics().finally(() => admin.disconnect())).filter((t) => ctx.ownsTopic(t));
  let hits = 0;
  let messages = 0;
  for (const topic of topics) {
    for (const record of await readTopic(ctx.kafka, topic)) {
      messages++;
      hits += scanner.hits(`${record.key}\n${record.value}`);
    }
  }
  return { hits, topics: topics.length, messages };
}

/** Every document of every collection, as the server stores it (secrets must be sealed). */
async function scanDatabases(ctx: ChaosContext, scanner: SecretScanner) {
  const client = await MongoClient.connect(ctx.mongoBase);
  let hits = 0;
  let documents = 0;
  try {
    const { databases } = await client.db().admin().listDatabases();
    const ours = databases.filter((db) => ctx.ownsDatabase(db.name));
    for (const { name } of ours) {
      const db = client.db(name);
      for (const { name: collection } of await db.listCollections().toArray()) {
        for await (const document of db.collection(collection).find()) {
          documents++;
          hits += scanner.hits(JSON.stringify(document));
        }
      }
    }
    return { hits, databases: ours.length, documents };
  } finally {
    await client.close();
  }
}
