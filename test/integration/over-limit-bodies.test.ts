// A body over limits.maxBodyBytes is answered 413 with `Connection: close`, and the gateway stops
// reading it soon: the connection is closed after a bounded lingering read (linger.ts: so that a
// client still sending gets to read the answer), not kept to swallow a body that may be endless.
// Both ways a proxied request can come in (the fast path, and Fastify's router for the requests
// it leaves to it), with the length announced (`Content-Length: 1 TiB`) or not (chunked). Raw
// sockets: the client goes on sending until the gateway closes the connection.

import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseYaml, chat, cleanupAll, post, spawnMock, startGateway, type TestGateway } from './helpers.js';
import { openSocket, parseResponse, type RawResponse } from './raw-http.js';

const LIMIT = 1024 * 1024;
/** What the client is willing to send: far past the limit and the kernel's buffers on both sides. */
const SEND_AT_MOST = 256 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

let t: TestGateway;
let port: number;

beforeAll(async () => {
  const mock = await spawnMock(['--served-model-name', 'r1']);
  t = await startGateway(
    baseYaml(`models:\n  r1: { runtime: remote, url: "${mock.url}" }`, { limits: `{ queueTimeoutSeconds: 5, maxBodyBytes: ${LIMIT} }` }),
  );
  port = Number(new URL(t.url).port);
});
afterAll(cleanupAll);

interface Outcome {
  response: RawResponse | null;
  /** Bytes of body the client had written when the connection ended (or when it gave up). */
  sent: number;
  /** The gateway ended the connection (FIN or reset), rather than the client giving up. */
  closedByGateway: boolean;
}

/**
 * Sends `head`, then body bytes (`frame` wraps each 64 KiB piece, e.g. as a chunk) for as long as
 * the connection lasts, up to SEND_AT_MOST; then waits a second for the gateway to close it.
 */
async function sendEndless(head: string, frame: (piece: Buffer) => Buffer = (p) => p): Promise<Outcome> {
  const socket: Socket = await openSocket(port);
  let raw = '';
  let sent = 0;
  let ended = false;
  const closed = new Promise<void>((resolve) => {
    const done = () => {
      ended = true;
      resolve();
    };
    socket.once('end', done);
    socket.once('close', done);
    socket.once('error', done);
  });
  socket.on('data', (c: Buffer) => (raw += c.toString('latin1')));
  socket.write(head);
  const piece = frame(CHUNK);
  while (!ended && sent < SEND_AT_MOST) {
    sent += CHUNK.length;
    if (!socket.write(piece)) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  const closedByGateway = ended;
  socket.destroy();
  return { response: parseResponse(raw), sent, closedByGateway };
}

function expectRefusedAndClosed(o: Outcome): void {
  expect(o.response?.status, o.response?.raw.slice(0, 300)).toBe(413);
  expect(o.response!.headers.connection).toBe('close');
  expect(JSON.parse(o.response!.body).error.code).toBe('body_too_large');
  expect(o.closedByGateway, `connection still open after ${o.sent} bytes sent`).toBe(true);
  // What the kernel buffers hold while the gateway answers and closes: a few MB, never the whole.
  expect(o.sent).toBeLessThan(SEND_AT_MOST / 4);
}

const head = (path: string, contentType: string, framing: string) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: ${contentType}\r\n${framing}\r\n`;
const asChunk = (p: Buffer) => Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]);

describe('a body over limits.maxBodyBytes: 413, Connection: close, nothing more read', () => {
  it('fast path, Content-Length: 1 TiB', async () => {
    expectRefusedAndClosed(await sendEndless(head('/v1/chat/completions', 'application/json', `Content-Length: ${2 ** 40}\r\n`)));
  });

  it('fast path, chunked', async () => {
    expectRefusedAndClosed(await sendEndless(head('/v1/chat/completions', 'application/json', 'Transfer-Encoding: chunked\r\n'), asChunk));
  });

  it("Fastify's router (a Content-Type the fast path leaves to it), both framings", async () => {
    expectRefusedAndClosed(await sendEndless(head('/v1/chat/completions', 'text/plain', `Content-Length: ${2 ** 40}\r\n`)));
    expectRefusedAndClosed(await sendEndless(head('/v1/chat/completions', 'text/plain', 'Transfer-Encoding: chunked\r\n'), asChunk));
  });

  it('the gateway goes on serving', async () => {
    expect((await post(t.url, '/v1/chat/completions', chat('r1', { max_tokens: 2 }))).status).toBe(200);
  });
});
