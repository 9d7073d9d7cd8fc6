// gateway/proxy/progress-comments.ts: the comment lines, the error event, and ProgressResponse in
// front of a real HTTP response (a loopback server and client: the bytes a client reads).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  errorEvent,
  progressComment,
  ProgressResponse,
  upstreamErrorObject,
  type ProgressSnapshot,
} from '../../gateway/proxy/progress-comments.js';

describe('progressComment and errorEvent', () => {
  it('one comment line: phase, model, whole elapsed seconds, then what is known', () => {
    expect(progressComment('qwen', { phase: 'queued', position: 3 }, 12_900)).toBe(
      ': vllm-gateway queued model=qwen elapsed=12s position=3\n\n',
    );
    expect(progressComment('qwen', { phase: 'pulling', percent: 41.6 }, 0)).toBe(
      ': vllm-gateway pulling model=qwen elapsed=0s percent=42\n\n',
    );
    expect(progressComment('q', { phase: 'sent', position: null, percent: null }, 5000)).toBe(': vllm-gateway sent model=q elapsed=5s\n\n');
  });

  it('errorEvent is one data event in the contract shape', () => {
    const e = { message: 'm', type: 'server_error', code: 'queue_timeout', param: null };
    expect(errorEvent(e)).toBe('data: {"error":{"message":"m","type":"server_error","code":"queue_timeout","param":null}}\n\n');
  });
});

describe('upstreamErrorObject', () => {
  it("uses the upstream's own error object: OpenAI's {error: {...}} or vLLM's top-level one", () => {
    expect(upstreamErrorObject(400, '{"error":{"message":"bad","type":"invalid_request_error","code":"x","param":"model"}}')).toEqual({
      message: 'bad',
      type: 'invalid_request_error',
      code: 'x',
      param: 'model',
    });
    expect(upstreamErrorObject(400, '{"object":"error","message":"too long","type":"BadRequestError","param":null,"code":400}')).toEqual({
      message: 'too long',
      type: 'BadRequestError',
      code: '400',
      param: null,
    });
  });

  it('a body without one: code upstream_<status>, the text as the message', () => {
    expect(upstreamErrorObject(502, 'Bad Gateway')).toEqual({
      message: 'Bad Gateway',
      type: 'server_error',
      code: 'upstream_502',
      param: null,
    });
    expect(upstreamErrorObject(429, '')).toEqual({
      message: 'The model server answered 429',
      type: 'rate_limit_error',
      code: 'upstream_429',
      param: null,
    });
    expect(upstreamErrorObject(404, '{"detail":"Not Found"}')).toMatchObject({ code: 'upstream_404', type: 'invalid_request_error' });
    expect(upstreamErrorObject(500, '{"error":"boom"}')).toEqual({
      message: 'boom',
      type: 'server_error',
      code: 'upstream_500',
      param: null,
    });
  });
});

// ---- in front of a real response ----------------------------------------------------------------

let server: http.Server | null = null;
afterEach(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((r) => server!.close(() => r()));
  }
  server = null;
});

interface Client {
  status: Promise<number>;
  headers: Promise<http.IncomingHttpHeaders>;
  text(): string;
  ended: Promise<void>;
}

/** Serves one request with `handler(progress)`; returns what the client reads. */
async function serve(read: () => ProgressSnapshot, handler: (p: ProgressResponse) => void, intervalMs = 5000): Promise<Client> {
  server = http.createServer((req, res) => {
    const p = new ProgressResponse(res, { model: 'm', requestId: 'rid-1', read, intervalMs, tickMs: 10 });
    p.begin();
    handler(p);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  let body = '';
  let res!: (s: number) => void;
  let hdr!: (h: http.IncomingHttpHeaders) => void;
  let end!: () => void;
  const status = new Promise<number>((r) => (res = r));
  const headers = new Promise<http.IncomingHttpHeaders>((r) => (hdr = r));
  const ended = new Promise<void>((r) => (end = r));
  http
    .request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false }, (r) => {
      res(r.statusCode!);
      hdr(r.headers);
      r.setEncoding('utf8').on('data', (c: string) => (body += c));
      r.on('end', () => end());
      r.on('close', () => end());
    })
    .end();
  return { status, headers, text: () => body, ended };
}

async function until(fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const comments = (text: string) => text.split('\n\n').filter((b) => b.startsWith(': vllm-gateway '));

describe('ProgressResponse', () => {
  it('200 and SSE headers at once, a comment at once and on each new phase, then the upstream bytes unchanged', async () => {
    let snap: ProgressSnapshot = { phase: 'queued', position: 2 };
    let progress!: ProgressResponse;
    const c = await serve(
      () => snap,
      (p) => (progress = p),
    );
    expect(await c.status).toBe(200);
    const h = await c.headers;
    expect(h['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(h['x-request-id']).toBe('rid-1');
    await until(() => comments(c.text()).length === 1);
    expect(c.text()).toBe(': vllm-gateway queued model=m elapsed=0s position=2\n\n');
    snap = { phase: 'starting' };
    await until(() => comments(c.text()).length === 2);
    snap = { phase: 'sent' };
    await until(() => comments(c.text()).length === 3);
    const before = c.text();
    // forward() writes the upstream's answer into it as into the response itself
    const res = progress.asResponse();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-upstream': 'ignored' });
    res.flushHeaders();
    const upstream = 'data: {"choices":[{"delta":{"content":"hé"}}]}\n\ndata: [DONE]\n\n';
    expect(res.write(Buffer.from(upstream.slice(0, 20)))).toBe(true);
    res.write(Buffer.from(upstream.slice(20)));
    res.end();
    await c.ended;
    expect(c.text()).toBe(before + upstream);
    expect(comments(before).map((l) => l.split(' ')[2])).toEqual(['queued', 'starting', 'sent']);
    expect((await c.headers)['x-upstream']).toBeUndefined();
  });

  it('repeats the comment at least every intervalMs while nothing changes', async () => {
    const c = await serve(
      () => ({ phase: 'starting' }),
      () => {},
      40,
    );
    await until(() => comments(c.text()).length >= 4);
    expect(new Set(comments(c.text()).map((l) => l.split(' ')[2]))).toEqual(new Set(['starting']));
  });

  it('an upstream error status becomes one error event, and the stream ends', async () => {
    const c = await serve(
      () => ({ phase: 'sent' }),
      (p) => {
        const res = p.asResponse();
        setTimeout(() => {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.write('{"object":"error","message":"This model\'s maximum context length is 8192 tokens",');
          res.end('"type":"BadRequestError","param":null,"code":400}');
        }, 30);
      },
    );
    await c.ended;
    const blocks = c.text().split('\n\n').filter(Boolean);
    expect(blocks.at(-1)).toBe(
      'data: {"error":{"message":"This model\'s maximum context length is 8192 tokens","type":"BadRequestError","code":"400","param":null}}',
    );
    expect(blocks.slice(0, -1).every((b) => b.startsWith(': vllm-gateway sent'))).toBe(true);
  });

  it('fail() before the upstream answered: one error event; after, nothing more is written', async () => {
    let progress!: ProgressResponse;
    const c = await serve(
      () => ({ phase: 'starting' }),
      (p) => (progress = p),
    );
    await until(() => comments(c.text()).length === 1);
    progress.fail({ message: 'The model failed to start', type: 'server_error', code: 'model_start_failed', param: null });
    progress.fail({ message: 'twice', type: 'server_error', code: 'internal_error', param: null });
    await c.ended;
    expect(c.text()).toBe(
      ': vllm-gateway starting model=m elapsed=0s\n\ndata: {"error":{"message":"The model failed to start","type":"server_error","code":"model_start_failed","param":null}}\n\n',
    );
  });
});
