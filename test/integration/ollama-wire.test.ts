// Ollama's routes on the wire (docs/http-api.md): stream as the default, the NDJSON content type and
// chunking, done flags, errors in Ollama's shape with the OpenAI routes' statuses (400, 401, 403,
// 404, 413, 429 + Retry-After, 501), GET / on the Ollama port only, backpressure and a client that
// goes away mid-stream, the request id and log line, and the Ollama port already taken.

import net from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../../gateway/index.js';
import { OllamaPortInUseError } from '../../gateway/ollama/ollama-listener.js';
import { rawRequest } from './raw-http.js';
import {
  agent,
  baseYaml,
  cleanupAll,
  http,
  memoryLogger,
  mockOf,
  parseYaml,
  post,
  processModel,
  startGateway,
  waitUntil,
  type TestGateway,
} from './helpers.js';

let t: TestGateway;
let ollamaUrl: string;

const withOllamaPort = (yaml: string, port: number | string = 0) =>
  yaml.replace('listen: { host: 127.0.0.1, port: 0 }', `listen: { host: 127.0.0.1, port: 0, ollamaPort: ${port} }`);

beforeAll(async () => {
  t = await startGateway(
    withOllamaPort(
      baseYaml(
        [
          'models:',
          processModel('w1', { extra: 'maxConcurrent: 1\nmaxQueue: 1' }),
          processModel('w2'),
          processModel('broken', { knobs: ['--mock-fail-at-start', 'CUDA out of memory (mock)'] }),
        ].join('\n'),
        {
          limits: '{ queueTimeoutSeconds: 5, maxBodyBytes: 4096 }',
        },
      ),
    ),
  );
  ollamaUrl = `http://127.0.0.1:${t.gw.ollamaPort}`;
});
afterAll(cleanupAll);

const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

describe('wire format', () => {
  it('stream is the default: application/x-ndjson, chunked, one object a line, done only on the last', async () => {
    const res = await post(
      ollamaUrl,
      '/api/chat',
      { model: 'w1', messages: [{ role: 'user', content: 'hi' }] },
      { 'x-request-id': 'ol-wire-1' },
    );
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['x-request-id']).toBe('ol-wire-1');
    expect(res.text.endsWith('\n')).toBe(true);
    const objs = lines(res.text);
    expect(objs.length).toBe(17); // 16 tokens, then the final object
    expect(objs.filter((o) => o.done === true)).toHaveLength(1);
    expect(objs.at(-1)).toMatchObject({ done: true, done_reason: 'stop', eval_count: 16, message: { role: 'assistant', content: '' } });
    for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration'])
      expect(Number.isInteger(objs.at(-1)[k]), k).toBe(true);
    // One path: the request is logged with its id and the client's path, like an OpenAI one.
    await waitUntil(
      () => t.logs.some((l) => l.includes('"reqId":"ol-wire-1"') && l.includes('"path":"/api/chat"') && l.includes('"status":200')),
      2000,
      'log line',
    );
    expect((await t.status()).recentRequests?.find((r) => r.id === 'ol-wire-1')).toMatchObject({
      path: '/api/chat',
      stream: true,
      status: 200,
    });
  });

  it('stream: false answers one application/json object', async () => {
    const res = await post(t.url, '/api/generate', { model: 'w1', prompt: 'x', stream: false });
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.text));
    expect(res.json).toMatchObject({ model: 'w1', done: true, response: 'héllo wörld 你好 🚀 héllo wörld' });
  });

  it('the first line leaves before the generation ends (streamed through, not collected)', async () => {
    const res = await request(`${ollamaUrl}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: 'w1', prompt: 'x' }),
      headers: { 'content-type': 'application/json', 'x-mock-tokens': '6', 'x-mock-token-delay-ms': '150' },
      dispatcher: agent,
    });
    const started = Date.now();
    const it = res.body[Symbol.asyncIterator]();
    const first = String((await it.next()).value);
    const firstAt = Date.now() - started;
    let rest = '';
    for (let r = await it.next(); !r.done; r = await it.next()) rest += String(r.value);
    const total = Date.now() - started;
    expect(JSON.parse(first.split('\n')[0]).done).toBe(false);
    expect(total - firstAt).toBeGreaterThan(400); // ≥ 4 more token delays came after the first line
    expect(lines(first + rest).at(-1).done).toBe(true);
  });

  it('upstream bytes one at a time (real TCP chunks): every line whole, multi-byte characters intact', async () => {
    const res = await post(
      ollamaUrl,
      '/api/chat',
      { model: 'w2', messages: [{ role: 'user', content: 'hi' }] },
      { 'x-mock-chunk-bytes': '1' },
    );
    const objs = lines(res.text);
    expect(objs.map((o) => o.message.content).join('')).toBe('héllo wörld 你好 🚀 héllo wörld');
    expect(objs.at(-1)).toMatchObject({ done: true, eval_count: 16 });
  });

  it('GET / says "Ollama is running" on the Ollama port only; HEAD / too', async () => {
    const res = await http(ollamaUrl, '/');
    expect([res.status, res.text, res.headers['content-type']]).toEqual([200, 'Ollama is running', 'text/plain; charset=utf-8']);
    expect((await http(ollamaUrl, '/', { method: 'HEAD' })).status).toBe(200);
    expect((await http(t.url, '/')).status).toBe(404);
    // …and the Ollama port serves every other route too.
    expect((await http(ollamaUrl, '/v1/models')).json.data[0].id).toBe('w1');
    expect((await http(ollamaUrl, '/health')).json).toEqual({ status: 'ok' });
  });
});

describe('errors in Ollama’s shape', () => {
  it('400: not JSON, no model, bad keep_alive, bad options', async () => {
    for (const [body, msg] of [
      ['{nope', /^invalid JSON in the request body/],
      ['', /^missing request body$/],
      [JSON.stringify({ messages: [] }), /^model is required$/],
      [
        JSON.stringify({ model: 'w1', messages: [{ role: 'user', content: 'x' }], keep_alive: '300' }),
        /^time: missing unit in duration "300"$/,
      ],
      [
        JSON.stringify({ model: 'w1', messages: [{ role: 'user', content: 'x' }], options: { temperature: 'hot' } }),
        /^option "temperature" must be a number$/,
      ],
    ] as const) {
      const res = await http(ollamaUrl, '/api/chat', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      expect(res.status, body).toBe(400);
      expect(Object.keys(res.json)).toEqual(['error']);
      expect(res.json.error).toMatch(msg);
    }
  });

  it('404: unknown model; unknown /api path', async () => {
    const res = await post(ollamaUrl, '/api/generate', { model: 'ghost:7b', prompt: 'x' });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ error: 'model "ghost:7b" not found, try pulling it first' });
    const route = await http(ollamaUrl, '/api/nothing');
    expect(route.status).toBe(404);
    expect(Object.keys(route.json)).toEqual(['error']);
  });

  it('413: body over limits.maxBodyBytes', async () => {
    const res = await post(ollamaUrl, '/api/chat', { model: 'w1', messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
    expect(res.status).toBe(413);
    expect(res.json).toEqual({ error: 'The request body is larger than limits.maxBodyBytes' });
  });

  it("413 and 417 answered before the body (Expect: 100-continue, as curl sends for bodies over 1 MiB) are in Ollama's shape too", async () => {
    const port = Number(new URL(ollamaUrl).port);
    const head = `POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n`;
    const big = await rawRequest(port, `${head}Content-Length: 9000000\r\nExpect: 100-continue\r\n\r\n`);
    expect(big.status).toBe(413);
    expect(big.raw).not.toMatch(/100 Continue/);
    expect(JSON.parse(big.body)).toEqual({ error: 'The request body is larger than limits.maxBodyBytes' });
    const odd = await rawRequest(port, `${head}Content-Length: 2\r\nExpect: something-else\r\nConnection: close\r\n\r\n{}`);
    expect(odd.status).toBe(417);
    expect(JSON.parse(odd.body)).toEqual({ error: 'Only "Expect: 100-continue" is supported, got "something-else"' });
  });

  it('403: a Host or Origin not allowed, on the Ollama port as on the main one', async () => {
    const host = await http(ollamaUrl, '/api/tags', { headers: { host: 'evil.example' } });
    expect(host.status).toBe(403);
    expect(host.json.error).toMatch(/Host "evil.example" is not allowed/);
    const origin = await http(ollamaUrl, '/api/tags', { headers: { origin: 'http://evil.example' } });
    expect(origin.status).toBe(403);
    expect(origin.json.error).toMatch(/Origin "http:\/\/evil.example" is not allowed/);
    // The Ollama port's own origin is allowed there (a page served by it may call it).
    const own = await http(ollamaUrl, '/api/tags', { headers: { origin: ollamaUrl } });
    expect(own.status).toBe(200);
    expect(own.headers['access-control-allow-origin']).toBe(ollamaUrl);
  });

  it('429 + Retry-After when the queue is full; 501 for the model-store routes', async () => {
    const slow = { 'x-mock-tokens': '20', 'x-mock-token-delay-ms': '100' };
    const body = { model: 'w1', messages: [{ role: 'user', content: 'x' }] };
    const a = post(ollamaUrl, '/api/chat', body, slow);
    await waitUntil(async () => (await t.model('w1')).inFlight === 1, 3000, 'slot held');
    const b = post(ollamaUrl, '/api/chat', body, slow);
    await waitUntil(async () => (await t.model('w1')).queued === 1, 3000, 'one queued');
    const c = await post(ollamaUrl, '/api/chat', body);
    expect(c.status).toBe(429);
    expect(c.headers['retry-after']).toBe('1');
    expect(c.json.error).toMatch(/^server busy, please try again\.\s+maximum pending requests exceeded/);
    expect((await a).status).toBe(200);
    expect((await b).status).toBe(200);
    for (const [method, path] of [
      ['POST', '/api/create'],
      ['POST', '/api/push'],
      ['POST', '/api/copy'],
      ['DELETE', '/api/delete'],
    ]) {
      const res = await http(ollamaUrl, path, { method, body: '{}', headers: { 'content-type': 'application/json' } });
      expect(res.status, path).toBe(501);
      expect(res.json.error).toMatch(new RegExp(`^${path} is not supported`));
    }
  });

  it('503 when the model fails to start, with the last lines of its output and Retry-After', async () => {
    const res = await post(ollamaUrl, '/api/chat', { model: 'broken', messages: [{ role: 'user', content: 'x' }] });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('10'); // model_start_failed's, as on the OpenAI port
    expect(Object.keys(res.json)).toEqual(['error']);
    expect(res.json.error).toContain('CUDA out of memory (mock)');
  });

  it('an upstream error keeps its status with its message', async () => {
    const res = await post(ollamaUrl, '/api/chat', { model: 'w1', messages: [{ role: 'user', content: 'x' }] }, { 'x-mock-status': '400' });
    expect(res.status).toBe(400);
    expect(Object.keys(res.json)).toEqual(['error']);
    expect(typeof res.json.error).toBe('string');
  });
});

describe('a keep_alive longer than a Node timer reaches (24.8 days)', () => {
  it('"720h" keeps the model loaded 30 days: /api/ps and the status answer with that date, no timer overflows', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const before = Date.now();
      const res = await post(ollamaUrl, '/api/generate', { model: 'w2', prompt: 'x', stream: false, keep_alive: '720h' });
      expect(res.status).toBe(200);
      await new Promise((r) => setTimeout(r, 200)); // long enough for a 1 ms timer (what an overflow becomes) to fire many times
      const ps = await http(ollamaUrl, '/api/ps');
      expect(ps.status).toBe(200);
      const entry = ps.json.models.find((m: { name: string }) => m.name === 'w2');
      const expires = Date.parse(entry.expires_at) - before;
      expect(expires).toBeGreaterThan(719 * 3600_000);
      expect(expires).toBeLessThan(721 * 3600_000);
      expect((await t.model('w2')).state).toBe('ready');
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("past Go's longest duration: a string is a 400 as in Ollama; a number keeps it loaded, and the status still answers", async () => {
    const bad = await post(ollamaUrl, '/api/generate', { model: 'w2', prompt: 'x', stream: false, keep_alive: '9999999999h' });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: 'time: invalid duration "9999999999h"' });
    const huge = await post(ollamaUrl, '/api/generate', { model: 'w2', prompt: 'x', stream: false, keep_alive: 1e300 });
    expect(huge.status).toBe(200);
    expect((await http(t.url, '/gateway/status')).status).toBe(200);
    expect((await http(t.url, '/metrics')).status).toBe(200);
    const ps = await http(ollamaUrl, '/api/ps');
    expect(ps.status).toBe(200);
    expect(Date.parse(ps.json.models.find((m: { name: string }) => m.name === 'w2').expires_at)).toBeGreaterThan(
      Date.now() + 100 * 365 * 86400_000,
    );
  });
});

describe('an upstream that fails mid-answer', () => {
  // x-mock-truncate-after: the mock closes the connection after 3 SSE events, with no [DONE].
  const body = { model: 'w2', messages: [{ role: 'user', content: 'x' }] };
  const truncated = { 'x-mock-truncate-after': '3', 'x-mock-tokens': '20' };

  it("stream: false → 502 in Ollama's shape (nothing had been sent), not a cut connection", async () => {
    const res = await post(ollamaUrl, '/api/chat', { ...body, stream: false }, truncated);
    expect(res.status).toBe(502);
    expect(Object.keys(res.json)).toEqual(['error']);
    expect(res.json.error).toMatch(/^The model server failed while sending its answer/);
  });

  it('stream: true → the lines so far, then one {"error": …} line, as Ollama ends a stream that fails', async () => {
    const res = await request(`${ollamaUrl}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: 'w2', prompt: 'x' }),
      headers: { 'content-type': 'application/json', ...truncated },
      dispatcher: agent,
    });
    expect(res.statusCode).toBe(200);
    const got = lines(await res.body.text());
    expect(got.length).toBeGreaterThan(1);
    expect(got.slice(0, -1).every((l) => l.done === false)).toBe(true);
    expect(Object.keys(got.at(-1))).toEqual(['error']);
    expect(got.at(-1).error).toMatch(/^The model server failed while sending its answer/);
    // The response began 200, so its request line says 200: the failure has a line of its own.
    const id = String(res.headers['x-request-id']);
    await waitUntil(
      () => t.logs.some((l) => l.includes(id) && l.includes('"code":"upstream_error"') && l.includes('request failed')),
      2000,
      'the failure logged with the request id',
    );
  });
});

describe('a client that goes away mid-stream', () => {
  it('aborts the upstream request at once and frees the slot; logged as 200 (headers were sent)', async () => {
    const ac = new AbortController();
    const res = await request(`${ollamaUrl}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({ model: 'w1', messages: [{ role: 'user', content: 'x' }] }),
      headers: { 'content-type': 'application/json', 'x-request-id': 'ol-gone', 'x-mock-tokens': '500', 'x-mock-token-delay-ms': '20' },
      signal: ac.signal,
      dispatcher: agent,
    });
    const it = res.body[Symbol.asyncIterator]();
    expect(JSON.parse(String((await it.next()).value).split('\n')[0]).done).toBe(false);
    ac.abort();
    const mock = await mockOf(t, 'w1');
    await waitUntil(async () => (await mock.aborted()).includes('ol-gone'), 2000, 'upstream saw the abort');
    await waitUntil(
      async () => {
        const m = await t.model('w1');
        return m.inFlight === 0 && m.queued === 0;
      },
      2000,
      'slot freed',
    );
  });

  it('a client that stops reading holds the upstream back (backpressure), then still gets every line', async () => {
    // One 8 KB token (the mock attaches leading whitespace to a token) 4000 times: ~32 MB of
    // NDJSON, far more than the socket buffers on the way hold, if nothing held the mock back.
    const text = Buffer.from(`${' '.repeat(8000)}x`).toString('base64');
    const res = await request(`${ollamaUrl}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: 'w1', prompt: 'x' }),
      headers: { 'content-type': 'application/json', 'x-mock-text': text, 'x-mock-tokens': '4000', 'x-request-id': 'ol-bp' },
      dispatcher: agent,
    });
    const mock = await mockOf(t, 'w1');
    await new Promise((r) => setTimeout(r, 700)); // the client reads nothing meanwhile
    const during = (await mock.stats()).inProgress;
    expect(during).toBe(1); // the mock is still writing: it was paused, not finished
    let n = 0;
    let tail = '';
    for await (const chunk of res.body) {
      const s = tail + String(chunk);
      const parts = s.split('\n');
      tail = parts.pop()!;
      n += parts.length;
    }
    expect(n).toBe(4001);
  });
});

describe('the Ollama port taken', () => {
  it('refuses to start with a clear message', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    const config = parseYaml(withOllamaPort(baseYaml('models: {}'), port));
    const gw = await createGateway(config, { logger: memoryLogger([]), gpuProbe: null, runtimes: {} });
    const err = await gw.listen().catch((e: unknown) => e);
    expect(gw.app.server.listening).toBe(false); // nothing half-started on the main port
    await gw.close();
    blocker.close();
    expect(err).toBeInstanceOf(OllamaPortInUseError);
    expect((err as Error).message).toBe(
      `listen.ollamaPort ${port} on 127.0.0.1 is already in use — is Ollama running? Stop it (e.g. \`systemctl stop ollama\`), or set listen.ollamaPort to a free port (or null)`,
    );
  });
});

describe('API keys on the Ollama port', () => {
  it('401 in Ollama’s shape without the key; the ollama client passes with its headers', async () => {
    const k = await startGateway(
      withOllamaPort(baseYaml(`models:\n${processModel('k1')}`)).replace('auth: {', 'auth: { apiKeys: ["sekrit-key"], '),
    );
    const url = `http://127.0.0.1:${k.gw.ollamaPort}`;
    const res = await http(url, '/api/tags');
    expect(res.status).toBe(401);
    expect(res.json.error).toMatch(/^unauthorized: /);
    const ok = await http(url, '/api/tags', { headers: { authorization: 'Bearer sekrit-key' } });
    expect(ok.json.models.map((m: { name: string }) => m.name)).toEqual(['k1']);
    await k.close();
  });
});
