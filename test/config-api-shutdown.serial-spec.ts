import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import request from 'supertest';
import { loadAppConfig } from '@lib/config';
import { resolveTopicNames } from '@lib/contracts';
import { signDevToken } from '../apps/config-api/src/auth/dev-signing-key';
import { freePort } from '../bench/support/processes';
import { pushConfigBody } from './fixtures/mfa-config.builder';
import { testEnvironment } from './support/test-environment';
import { TopicReader } from './support/topic-reader';

const TENANTS = ['stop-a', 'stop-b', 'stop-c'];
/** Far above runApp's own 25 s grace (after which it exits 1): this only keeps a hung process from hanging the run. */
const EXIT_BOUND_MS = 60_000;

// A real config-api process, started as graceful-shutdown.serial-spec.ts starts the dispatcher, gets
// SIGTERM right after its last answer: it exits 0, and every change it acknowledged is on the topic.
describe('graceful shutdown of the config-api', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'push-mfa-api-stop-'));
  // LOG_LEVEL info: the shutdown line shows the signal handler ran, not a crash.
  const env = testEnvironment({ AUTH_MODE: 'dev', LOCAL_STATE_DIR: stateDir, LOG_LEVEL: 'info' });
  const config = loadAppConfig(env);
  let api: ChildProcess | undefined;
  let events: TopicReader;
  let output = '';

  beforeAll(async () => {
    events = await new TopicReader(config, resolveTopicNames(config.kafka).configChanged).start();
  });
  afterAll(async () => {
    api?.kill('SIGKILL');
    await events.stop();
  });

  /** The config-api from its sources, in a process of its own, once ready. */
  async function startApi(overrides: Record<string, string> = {}) {
    const port = await freePort();
    output = '';
    const child = spawn(
      'node',
      [
        '-r',
        'ts-node/register/transpile-only',
        '-r',
        'tsconfig-paths/register',
        'apps/config-api/src/main.ts',
      ],
      {
        env: { ...env, NODE_OPTIONS: '', PORT: String(port), ...overrides },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    api = child;
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const base = `http://127.0.0.1:${port}`;
    await waitUntilReady(`${base}/health/ready`);
    return { base, child, exited };
  }

  it('with SHUTDOWN_DRAIN_MS, answers red but keeps serving after SIGTERM, then exits 0; idle connections are kept past a load balancer’s 60 s', async () => {
    const token = await signDevToken(stateDir, { scopes: ['read:mfa'], tenant: 'stop-drain' });
    const { base, child, exited } = await startApi({ SHUTDOWN_DRAIN_MS: '3000' });
    const keepAlive = await fetch(`${base}/health/live`);
    expect(keepAlive.headers.get('keep-alive')).toBe('timeout=65');
    child.kill('SIGTERM');
    for (let i = 0; i < 50 && (await fetch(`${base}/health/ready`)).status !== 503; i++)
      await new Promise((r) => setTimeout(r, 20));
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, stopping: true });
    // Still serving while load balancers catch up.
    const read = await fetch(`${base}/mfa/push`, { headers: { Authorization: `Bearer ${token}` } });
    expect(read.status).toBe(404);
    expect(await within(EXIT_BOUND_MS, exited, 'the config-api to exit after its drain')).toEqual({
      code: 0,
      signal: null,
    });
    expect(output).toMatch(/SIGTERM: not ready; serving 3000 ms more/);
  }, 180_000);

  it('on SIGTERM after answering, exits 0 with every acknowledged change published', async () => {
    // Signing first also creates the dev key the API will trust.
    const tokens = await Promise.all(
      TENANTS.map((tenant) => signDevToken(stateDir, { scopes: ['write:mfa'], tenant })),
    );
    const { base, child, exited } = await startApi();

    // One after another: the last write's event may still be in its document when the signal comes.
    const created: { tenant: string; version: number }[] = [];
    for (const [i, tenant] of TENANTS.entries()) {
      const res = await request(base)
        .post('/mfa')
        .set('Authorization', `Bearer ${tokens[i]}`)
        .send(pushConfigBody());
      expect(res.status).toBe(201);
      created.push({ tenant, version: res.body.version });
    }
    child.kill('SIGTERM');

    const exit = await within(EXIT_BOUND_MS, exited, 'the config-api to exit after SIGTERM');
    if (exit.code !== 0) process.stderr.write(`config-api output:\n${output.slice(-4000)}\n`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(output).toContain('SIGTERM: finishing in-flight work');

    // Nothing lost: with no API left running, each event is on the topic...
    for (const { tenant, version } of created)
      await events.waitFor(
        (m) => m.key === `${tenant}/push` && m.value.version === version && m.value.change === 'created',
      );
    // ...and none was left in its document for a next start to publish.
    const connection = await mongoose.createConnection(config.mongodbUri).asPromise();
    try {
      const documents = await connection.collection('mfa_configs').find({}).toArray();
      expect(documents.map((d) => d.tenant).sort()).toEqual(TENANTS);
      expect(documents.flatMap((d) => d.pending_events)).toEqual([]);
    } finally {
      await connection.close();
    }
  }, 180_000);
});

/** The promise's value, or an error naming what did not happen in time; no timer left behind. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** ts-node compiles on a shared 2-core machine: give start-up a minute and more. */
async function waitUntilReady(url: string): Promise<void> {
  for (let i = 0; i < 900; i++) {
    const ready = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready within 90 s`);
}
