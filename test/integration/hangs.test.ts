// Nothing holds a slot, a socket or the process forever (docs/reliability.md "Hangs"): a half-sent
// body is cut after timeouts.idleSeconds and at the end of the shutdown drain; a client that reads
// nothing is cut after idleSeconds and its slot freed; a retry's backoff ends when its client goes.

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { Cancel } from '../../gateway/proxy/cancel.js';
import { forward } from '../../gateway/proxy/forward.js';
import { allIdle, baseYaml, chat, cleanupAll, freePort, http, post, spawnMock, startGateway, waitUntil } from './helpers.js';
import { openSocket, parseResponse, rawError } from './raw-http.js';

afterEach(cleanupAll);

const remote = (url: string, extra = '') => `models:\n  r1: { runtime: remote, url: "${url}"${extra} }`;

/** Sends headers announcing a 1000-byte body and 14 bytes of it; collects what comes back. */
async function halfBody(port: number, path = '/v1/chat/completions') {
  const socket = await openSocket(port);
  let raw = '';
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('data', (c: Buffer) => (raw += c.toString('latin1')));
  socket.on('error', () => {});
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":"r1",`,
  );
  return { socket, closed, raw: () => raw };
}

describe('a half-sent body', () => {
  it('is answered 408 request_timeout and its connection closed after idleSeconds', async () => {
    const mock = await spawnMock(['--served-model-name', 'r1']);
    const t = await startGateway(
      baseYaml(remote(mock.url), { timeouts: '{ connectSeconds: 2, firstByteSeconds: 10, idleSeconds: 1, startSeconds: 15 }' }),
    );
    const c = await halfBody(Number(new URL(t.url).port));
    await c.closed; // the test's timeout is the bound: before the fix the socket stayed open
    const r = parseResponse(c.raw());
    expect(r?.status).toBe(408);
    expect(rawError(r!).code).toBe('request_timeout');
    expect((await post(t.url, '/v1/chat/completions', chat('r1'))).status).toBe(200);
  });

  it('on listen.ollamaPort too (its own Node server, same request timeout)', async () => {
    const mock = await spawnMock(['--served-model-name', 'r1']);
    const t = await startGateway(
      baseYaml(remote(mock.url), { timeouts: '{ connectSeconds: 2, firstByteSeconds: 10, idleSeconds: 1, startSeconds: 15 }' }).replace(
        'listen: { host: 127.0.0.1, port: 0 }',
        'listen: { host: 127.0.0.1, port: 0, ollamaPort: 0 }',
      ),
    );
    const started = Date.now();
    const c = await halfBody(t.gw.ollamaPort!);
    await c.closed;
    // Node checks its connections' deadlines once a second here; by default every 30 s.
    expect(Date.now() - started).toBeLessThan(10_000);
    const r = parseResponse(c.raw());
    expect(r?.status).toBe(408);
    expect(rawError(r!).code).toBe('request_timeout');
    // An Ollama route's 408 is in Ollama's shape, as every error on /api/* is.
    const o = await halfBody(t.gw.ollamaPort!, '/api/chat');
    await o.closed;
    const ro = parseResponse(o.raw());
    expect(ro?.status).toBe(408);
    expect(JSON.parse(ro!.body)).toEqual({ error: 'The request headers or body did not arrive in time' });
  });

  it('slow headers (slowloris) are answered 408 request_timeout in the error shape too', async () => {
    const mock = await spawnMock(['--served-model-name', 'r1']);
    const t = await startGateway(
      baseYaml(remote(mock.url), { timeouts: '{ connectSeconds: 2, firstByteSeconds: 10, idleSeconds: 1, startSeconds: 15 }' }),
    );
    const port = Number(new URL(t.url).port);
    const socket = await openSocket(port);
    let raw = '';
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', (c: Buffer) => (raw += c.toString('latin1')));
    socket.on('error', () => {});
    socket.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: `); // and the rest never comes
    await closed;
    const r = parseResponse(raw);
    expect(r?.status).toBe(408);
    expect(rawError(r!).code).toBe('request_timeout');
  });

  it('does not hold shutdown past drainSeconds: close() ends and cuts the connection', async () => {
    const mock = await spawnMock(['--served-model-name', 'r1']);
    // idleSeconds far beyond the drain, so only the end of the drain can cut the half-sent body.
    const t = await startGateway(
      baseYaml(remote(mock.url), { timeouts: '{ connectSeconds: 2, firstByteSeconds: 60, idleSeconds: 60, startSeconds: 15 }' }),
    );
    const c = await halfBody(Number(new URL(t.url).port));
    const closing = t.gw.close(); // drainSeconds: 2
    await c.closed;
    await closing;
  }, 15_000);
});

describe('a client that reads nothing', () => {
  it('is cut after idleSeconds while data waits for it; its slot is freed and the upstream aborted', async () => {
    const mock = await spawnMock(['--served-model-name', 'r1']);
    const t = await startGateway(
      baseYaml(remote(mock.url, ', maxConcurrent: 1'), {
        timeouts: '{ connectSeconds: 2, firstByteSeconds: 10, idleSeconds: 1, startSeconds: 15 }',
      }),
    );
    const port = Number(new URL(t.url).port);
    const socket = await openSocket(port);
    socket.on('error', () => {});
    const body = JSON.stringify(chat('r1', { stream: true, max_tokens: 400_000 }));
    // ~40 MB of SSE: far more than the socket buffers hold, so the gateway must pause the upstream.
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\nx-mock-tokens: 400000\r\nx-request-id: stalled-1\r\n\r\n${body}`,
    );
    socket.pause(); // and never read
    await waitUntil(async () => (await t.model('r1')).inFlight === 1, 5000, 'the stream to be in flight');
    await waitUntil(() => allIdle(t), 8000, 'the stalled stream to be cut and its slot freed');
    await waitUntil(async () => (await mock.aborted()).includes('stalled-1'), 3000, 'the upstream request to be aborted');
    expect((await post(t.url, '/v1/chat/completions', chat('r1'))).status).toBe(200);
    socket.destroy();
  }, 30_000);
});

describe('a retry backoff', () => {
  it('ends when the client goes away: the slot is free at once, not after the wait', async () => {
    const port = await freePort(); // nothing listens: connection refused, retried after 5 s (inside firstByteSeconds: 10)
    const t = await startGateway(
      baseYaml(remote(`http://127.0.0.1:${port}`), { retry: '{ maxAttempts: 3, initialDelaySeconds: 5, backoff: 1 }' }),
    );
    const ac = new AbortController();
    const pending = post(t.url, '/v1/chat/completions', chat('r1'), {}, ac.signal).catch(() => 'aborted');
    const retried = async () => /vllm_gateway_upstream_retries_total\{model="r1"\} 1\b/.test((await http(t.url, '/metrics')).text);
    await waitUntil(retried, 3000, 'the first attempt to fail and its backoff to begin');
    expect((await t.model('r1')).inFlight).toBe(1);
    ac.abort();
    expect(await pending).toBe('aborted');
    await waitUntil(() => allIdle(t), 1000, 'the slot to be freed within a second of the client leaving');
  });
});

describe('forward()', () => {
  it("removes its 'drain' listener when the request ends in an error while the client's socket is full", async () => {
    // An upstream that sends 8 MB; the request is cut once the client's side is full.
    const upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(Buffer.alloc(8 * 1024 * 1024, 0x61));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const upPort = (upstream.address() as AddressInfo).port;
    let seen: ServerResponse | null = null;
    const dispatcher = new Agent();
    let front: ReturnType<typeof createServer> | null = null;
    const cancel = new Cancel();
    const done = new Promise<number>((resolve) => {
      front = createServer((_req, res) => {
        seen = res;
        void forward(
          dispatcher,
          {
            origin: `http://127.0.0.1:${upPort}`,
            method: 'POST',
            path: '/v1/chat/completions',
            headers: {},
            body: Buffer.from('{}'),
            signal: cancel,
            firstByteMs: 5000,
            idleMs: 60_000,
            retry: { maxAttempts: 1, initialDelaySeconds: 0, backoff: 1 },
          },
          res,
        ).then(() => resolve(res.listenerCount('drain')));
      });
      front.listen(0, '127.0.0.1', async () => {
        const s = await openSocket((front!.address() as AddressInfo).port);
        s.pause(); // never reads: the front socket stays full
        s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
      });
    });
    await waitUntil(() => (seen as ServerResponse | null)?.writableNeedDrain, 10_000, "the client's socket to be full");
    cancel.abort(new Error('cut'));
    expect(await done).toBe(0);
    for (const srv of [upstream, front!]) {
      srv.close();
      srv.closeAllConnections();
    }
    await dispatcher.destroy();
  }, 20_000);
});
