/**
 * The local push sandbox of `npm run stack`: the loopback APNs and FCM peers (test/peers), which speak
 * Apple's and Google's protocols, so the dispatcher's real SDK paths can be shown working on one
 * machine. Never part of a production deployment: the dispatcher reaches it only through the
 * sandbox settings (APNS_ENDPOINT, FCM_ENDPOINT, PUSH_SANDBOX_CA_FILE), which production refuses.
 *
 * Like Apple and Google, it trusts only keys it has been told about: POST them to its control port.
 */
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ApnsPeer } from '../test/peers/apns-peer';
import { FcmPeer } from '../test/peers/fcm-peer';

const controlPort = Number(process.env.SANDBOX_CONTROL_PORT ?? 3099);
const stateDir = join(resolve(process.env.LOCAL_STATE_DIR ?? '.local'), 'sandbox');

async function readJson(request: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, string>;
}

async function main(): Promise<void> {
  const [apns, fcm] = await Promise.all([ApnsPeer.start(), FcmPeer.start()]);
  const control = createServer((request: IncomingMessage, response: ServerResponse) => {
    const answer = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body, null, 2));
    };
    void (async () => {
      if (request.method === 'POST' && request.url === '/apns/keys') {
        const { key_id, team_id, public_key } = await readJson(request);
        apns.registerKey(key_id, team_id, public_key);
        return answer(204, {});
      }
      if (request.method === 'POST' && request.url === '/fcm/service-accounts') {
        const { client_email, public_key, project_id } = await readJson(request);
        fcm.registerServiceAccount(client_email, public_key, project_id);
        return answer(204, {});
      }
      if (request.method === 'GET' && request.url === '/deliveries') {
        return answer(200, {
          // The provider token is a credential: never shown, even from a sandbox.
          apns: apns.delivered().map(({ token, headers: { authorization: _, ...headers }, payload }) => ({
            token,
            headers,
            payload,
          })),
          fcm: fcm.delivered().map(({ project, message }) => ({ project, message })),
        });
      }
      answer(404, { error: 'POST /apns/keys, POST /fcm/service-accounts or GET /deliveries' });
    })().catch((error: Error) => answer(400, { error: error.message }));
  });
  await new Promise<void>((done) => control.listen(controlPort, '127.0.0.1', done));

  mkdirSync(stateDir, { recursive: true });
  const endpoints = {
    apnsEndpoint: `${apns.host}:${apns.port}`,
    fcmEndpoint: fcm.url,
    caFile: join(stateDir, 'ca.pem'),
    control: `http://127.0.0.1:${controlPort}`,
  };
  writeFileSync(endpoints.caFile, apns.caPem);
  writeFileSync(join(stateDir, 'endpoints.json'), JSON.stringify(endpoints, null, 2));
  process.stdout.write(
    `[sandbox] APNs ${endpoints.apnsEndpoint}, FCM ${endpoints.fcmEndpoint}, control ${endpoints.control}\n`,
  );

  const stop = () => {
    control.close();
    void Promise.allSettled([apns.stop(), fcm.stop()]).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: Error) => {
  process.stderr.write(`[sandbox] ${error.message}\n`);
  process.exit(1);
});
