/**
 * Checks that resetConnectionSoon() survives what the peers' resets go through in the chaos runs:
 * an HTTP/2 server drops the connection of every 20th request while a client keeps 200 requests in
 * flight and reconnects. Exits 0 after RESETS_WANTED resets. It runs in its own process
 * (test/peer-resets.e2e-spec.ts) because an unsafe reset corrupts Node's native heap and aborts the
 * process, which a test inside the Jest worker could not survive to report.
 *
 * Plain-text HTTP/2 on purpose: there a session destroyed inside the stream handler aborts within a
 * second, while over TLS it took about one chaos campaign in fifteen.
 */
import { connect, constants, createServer, ClientHttp2Session } from 'node:http2';
import { AddressInfo } from 'node:net';
import { readBody, resetConnectionSoon } from './peer-server';

const RESETS_WANTED = 300;
const CONCURRENT_STREAMS = 200;
const REQUESTS_PER_RESET = 20;

async function main(): Promise<void> {
  let requests = 0;
  let resets = 0;
  const server = createServer();
  server.on('session', (session) => session.on('error', () => undefined));
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    void readBody(stream).then(() => {
      requests += 1;
      if (requests % REQUESTS_PER_RESET === 0) {
        resets += 1;
        resetConnectionSoon(stream.session, constants.NGHTTP2_INTERNAL_ERROR);
      } else if (!stream.destroyed) {
        stream.respond({ ':status': 200 }, { endStream: true });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let session: ClientHttp2Session | undefined;
  await new Promise<void>((resolve) => {
    const send = (): void => {
      if (resets >= RESETS_WANTED) return resolve();
      if (session === undefined || session.closed || session.destroyed) {
        session = connect(origin);
        session.on('error', () => undefined);
      }
      const request = session.request({ ':method': 'POST', ':path': '/3/device/stress' });
      request.on('error', () => undefined);
      request.on('close', () => setImmediate(send));
      request.resume();
      // Two DATA frames, so that frames of other streams are still unread when a reset is decided.
      request.write(Buffer.alloc(400, 'a'));
      request.end(Buffer.alloc(400, 'b'));
    };
    for (let i = 0; i < CONCURRENT_STREAMS; i += 1) send();
  });
  session?.destroy();
  server.close();
  process.stdout.write(`${JSON.stringify({ requests, resets })}\n`);
}

void main().then(() => process.exit(0));
