// The mock vLLM server (test/fixtures/mock-vllm.mjs): real child processes, real sockets.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM fixture without type declarations
import { parseArgs, embed, splitTokens, DEFAULT_TOKENS } from '../fixtures/mock-vllm.mjs';
import { markerEnv } from '../lifecycle/run-marker.js';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/mock-vllm.mjs');
const FAKE_SMI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/fake-nvidia-smi.mjs');
const DEFAULT_TEXT_16 = Array.from({ length: 16 }, (_, i) => DEFAULT_TOKENS[i % DEFAULT_TOKENS.length]).join('');

interface Mock {
  proc: ChildProcess;
  port: number;
  base: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}
const spawned: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Spawns the mock; resolves once `Uvicorn running on` is printed (unless waitReady is false). */
async function startMock(
  args: string[],
  { env = {}, waitReady = true, port }: { env?: Record<string, string>; waitReady?: boolean; port?: number } = {},
): Promise<Mock> {
  const p = port ?? (await freePort());
  const hasPort = args.some((a) => a === '--port' || a.startsWith('--port='));
  const proc = spawn(process.execPath, [SCRIPT, ...args, ...(hasPort ? [] : ['--port', String(p)]), '--host', '127.0.0.1'], {
    env: { PATH: process.env.PATH ?? '', ...markerEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  if (waitReady) {
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (/Uvicorn running on/.test(out)) {
          proc.stdout!.off('data', check);
          resolve();
        }
      };
      proc.stdout!.on('data', check);
      check();
      exited.then(({ code }) => reject(new Error(`mock exited (${code}) before ready:\n${out}\n${err}`)));
    });
  }
  return { proc, port: p, base: `http://127.0.0.1:${p}`, stdout: () => out, stderr: () => err, exited };
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  chunks: number;
  error?: NodeJS.ErrnoException;
}
/** One request over a fresh connection; resolves with the raw bytes (and any socket error). */
function raw(port: number, method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, method, path: urlPath, agent: false, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const parts: Buffer[] = [];
        let chunks = 0;
        res.on('data', (c: Buffer) => {
          parts.push(c);
          chunks++;
        });
        const done = (error?: NodeJS.ErrnoException) =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), chunks, error });
        res.on('end', () => done());
        res.on('error', (e) => done(e));
        res.on('aborted', () => done(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), chunks: 0, error: e }));
    req.end(data);
  });
}
const json = async (port: number, method: string, p: string, body?: unknown, headers?: Record<string, string>) => {
  const r = await raw(port, method, p, body, headers);
  return { status: r.status, body: r.body.length ? JSON.parse(r.body.toString('utf8')) : null, raw: r };
};
const sseEvents = (text: string) => text.split('\n\n').filter((e) => e.length > 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(fn: () => Promise<T | undefined | false>, ms = 2000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('waitFor timed out');
    await sleep(20);
  }
}
function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

afterAll(() => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

describe('parseArgs', () => {
  it('reads vLLM flags in both forms, ignores unknown ones, last repeat wins', () => {
    const o = parseArgs(
      [
        'serve',
        'org/model-7b',
        '--served-model-name=first',
        '--port',
        '9001',
        '--max-model-len',
        '8192',
        '--enforce-eager',
        '--tensor-parallel-size',
        '2',
        '--unknown-bool',
        '--dtype=bfloat16',
        '--gpu-memory-utilization=0.42',
        '--served-model-name',
        'a',
        'b',
        '--port=9002',
        '--mock-tokens',
        '3',
        '--mock-log-every-request',
      ],
      {},
    );
    expect(o.model).toBe('org/model-7b');
    expect(o.servedModelNames).toEqual(['a', 'b']);
    expect(o.port).toBe(9002);
    expect(o.host).toBe('0.0.0.0');
    expect(o.gpuMemoryUtilization).toBe(0.42);
    expect(o.maxModelLen).toBe(8192);
    expect(o.tokens).toBe(3);
    expect(o.logEveryRequest).toBe(true);
    expect(o.ignored).toEqual(['--enforce-eager', '--tensor-parallel-size', '2', '--unknown-bool', '--dtype=bfloat16']);
  });

  it('defaults, --model, env equivalents, and flags over env', () => {
    const d = parseArgs([], {});
    expect(d).toMatchObject({ port: 8000, host: '0.0.0.0', startDelayMs: 0, tokens: 16, tokenDelayMs: 0 });
    expect(d.servedModelNames).toEqual([d.model]);
    const o = parseArgs(['--model', 'm1', '--enforce-eager', '--mock-tokens=5'], {
      MOCK_TOKENS: '9',
      MOCK_START_DELAY_MS: '250',
      MOCK_FAIL_AT_START: 'boom',
      MOCK_VRAM_MIB: '1024',
    });
    expect(o).toMatchObject({ model: 'm1', servedModelNames: ['m1'], tokens: 5, startDelayMs: 250, failAtStart: 'boom', vramMib: 1024 });
    // a boolean vLLM flag doesn't swallow the positional model after it
    expect(parseArgs(['serve', '--enforce-eager', 'pos/model'], {}).model).toBe('pos/model');
  });

  it('rejects a bad value of a known flag', () => {
    expect(() => parseArgs(['--port', 'abc'], {})).toThrow(/--port/);
    expect(() => parseArgs(['--gpu-memory-utilization', '1.5'], {})).toThrow(/gpu-memory-utilization/);
  });

  it('helpers: deterministic embeddings and UTF-8-safe token split', () => {
    expect(embed('x')).toEqual(embed('x'));
    expect(embed('x')).not.toEqual(embed('y'));
    expect(embed('x')).toHaveLength(8);
    expect(splitTokens('héllo wörld 你好 🚀').join('')).toBe('héllo wörld 你好 🚀');
  });
});

describe('startup and lifecycle', () => {
  it('prints vLLM-like startup lines and reports argv/stats; unknown flags ignored, = form works', async () => {
    const m = await startMock([
      'serve',
      'org/m',
      '--served-model-name=served-x',
      '--max-model-len',
      '4096',
      '--enforce-eager',
      '--swap-space',
      '4',
      '--gpu-memory-utilization=0.5',
    ]);
    expect(m.stdout()).toMatch(/Application startup complete\./);
    expect(m.stdout()).toContain(`Uvicorn running on http://127.0.0.1:${m.port}`);
    expect(m.stdout()).toContain('served-x');
    const models = await json(m.port, 'GET', '/v1/models');
    expect(models.body.object).toBe('list');
    expect(models.body.data).toHaveLength(1);
    expect(models.body.data[0]).toMatchObject({ id: 'served-x', object: 'model', root: 'org/m', max_model_len: 4096 });
    const stats = (await json(m.port, 'GET', '/mock/stats')).body;
    expect(stats).toMatchObject({
      ready: true,
      pid: m.proc.pid,
      model: 'org/m',
      servedModelNames: ['served-x'],
      gpuMemoryUtilization: 0.5,
      port: m.port,
    });
    expect(stats.argv).toContain('--swap-space');
    m.proc.kill('SIGTERM');
    expect((await m.exited).code).toBe(0);
  });

  it('start delay: connection refused until the delay has passed', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const m = await startMock(['--model', 'm', '--mock-start-delay-ms', '600'], { port, waitReady: false });
    await sleep(150);
    expect(await connectRefused(port)).toBe(true);
    expect(m.stdout()).not.toMatch(/Uvicorn running/);
    await waitFor(async () => /Uvicorn running on/.test(m.stdout()), 3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
    expect((await raw(port, 'GET', '/health')).status).toBe(200);
    m.proc.kill('SIGTERM');
    expect((await m.exited).code).toBe(0);
  });

  it('health delay: listens at once, /health 503 (and /mock/* works) until the delay has passed', async () => {
    const m = await startMock(['--model', 'm', '--mock-health-delay-ms', '800']);
    expect((await raw(m.port, 'GET', '/health')).status).toBe(503);
    expect((await json(m.port, 'POST', '/v1/chat/completions', { model: 'm', messages: [] })).status).toBe(503);
    expect((await json(m.port, 'GET', '/mock/stats')).body.ready).toBe(false);
    await waitFor(async () => (await raw(m.port, 'GET', '/health')).status === 200, 2000);
    const h = await raw(m.port, 'GET', '/health');
    expect(h.body.length).toBe(0);
    expect((await json(m.port, 'GET', '/mock/stats')).body.ready).toBe(true);
    m.proc.kill('SIGTERM');
  });

  it('fail at start: vLLM-like output, the message on stderr, exit 1 after the start delay', async () => {
    const t0 = Date.now();
    const m = await startMock(['serve', 'm', '--mock-start-delay-ms=200'], {
      waitReady: false,
      env: { MOCK_FAIL_AT_START: 'CUDA out of memory: mock' },
    });
    const { code } = await m.exited;
    expect(code).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(m.stderr()).toContain('CUDA out of memory: mock');
    expect(m.stdout()).toMatch(/vLLM API server version/);
    expect(m.stdout()).not.toMatch(/Uvicorn running/);
  });

  it('exit after ms: the engine dies while serving (exit 1, "engine died")', async () => {
    const m = await startMock(['--model', 'm', '--mock-exit-after-ms', '500']);
    expect((await raw(m.port, 'GET', '/health')).status).toBe(200);
    const { code } = await m.exited;
    expect(code).toBe(1);
    expect(m.stderr()).toContain('engine died');
  });

  it('SIGTERM ends an in-flight stream and exits 0 quickly', async () => {
    const m = await startMock(['--model', 'm', '--mock-token-delay-ms', '1000']);
    const pending = raw(m.port, 'POST', '/v1/chat/completions', { model: 'm', messages: [], stream: true });
    await waitFor(async () => (await json(m.port, 'GET', '/mock/stats')).body.inProgress === 1);
    const t0 = Date.now();
    m.proc.kill('SIGTERM');
    const { code } = await m.exited;
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1000); // ~200 ms when the machine is idle
    expect(m.stdout()).toContain('Shutting down');
    const r = await pending;
    expect(r.body.toString()).not.toContain('[DONE]');
  });
});

describe('serving', () => {
  let m: Mock;
  beforeAll(async () => {
    m = await startMock(['serve', 'org/base', '--served-model-name', 'mock-a', '--enforce-eager']);
  });
  afterAll(async () => {
    m.proc.kill('SIGTERM');
    await m.exited;
  });

  it('non-stream chat and completions: content, usage', async () => {
    const c = await json(
      m.port,
      'POST',
      '/v1/chat/completions',
      { model: 'mock-a', messages: [{ role: 'user', content: 'hi' }] },
      { 'x-request-id': 'req-1' },
    );
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({
      id: 'chatcmpl-req-1',
      object: 'chat.completion',
      model: 'mock-a',
      choices: [{ index: 0, message: { role: 'assistant', content: DEFAULT_TEXT_16 }, finish_reason: 'stop' }],
    });
    expect(c.body.usage.completion_tokens).toBe(16);
    expect(c.body.usage.total_tokens).toBe(c.body.usage.prompt_tokens + 16);
    const t = await json(m.port, 'POST', '/v1/completions', { model: 'mock-a', prompt: 'x', max_tokens: 3 });
    expect(t.body.object).toBe('text_completion');
    expect(t.body.choices[0]).toMatchObject({ text: 'héllo', finish_reason: 'length' });
    const text = Buffer.from('one two three', 'utf8').toString('base64');
    const x = await json(m.port, 'POST', '/v1/chat/completions', { messages: [] }, { 'x-mock-text': text });
    expect(x.body.choices[0].message.content).toBe('one two three');
    expect(x.body.model).toBe('mock-a');
  });

  it('streaming SSE: chunk shape, role first, [DONE] last, include_usage honoured', async () => {
    const r = await raw(
      m.port,
      'POST',
      '/v1/chat/completions',
      { model: 'mock-a', messages: [], stream: true, stream_options: { include_usage: true } },
      { 'x-mock-tokens': '5' },
    );
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    const evs = sseEvents(r.body.toString('utf8'));
    expect(evs.at(-1)).toBe('data: [DONE]');
    for (const e of evs) expect(e.startsWith('data: ')).toBe(true);
    const objs = evs.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
    expect(objs[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    for (const o of objs) expect(o.object).toBe('chat.completion.chunk');
    const usage = objs.at(-1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBe(5);
    const content = objs
      .slice(1, -1)
      .map((o) => o.choices[0].delta.content)
      .join('');
    expect(content).toBe('héllo wö');
    expect(objs.at(-2).choices[0].finish_reason).toBe('stop');
    // completions stream without usage
    const c = await raw(m.port, 'POST', '/v1/completions', { model: 'mock-a', prompt: 'p', stream: true });
    const cev = sseEvents(c.body.toString('utf8'));
    expect(cev.at(-1)).toBe('data: [DONE]');
    const cobjs = cev.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
    expect(cobjs).toHaveLength(16);
    expect(cobjs.map((o) => o.choices[0].text).join('')).toBe(DEFAULT_TEXT_16);
    expect(cobjs.every((o) => o.usage === undefined)).toBe(true);
  });

  it('1-byte chunking gives byte-identical streams and bodies, over several TCP reads', async () => {
    const req = { model: 'mock-a', messages: [], stream: true, stream_options: { include_usage: true } };
    const norm = (b: Buffer) => b.toString('latin1').replace(/"created":\d+/g, '"created":0');
    const a = await raw(m.port, 'POST', '/v1/chat/completions', req, { 'x-request-id': 'same' });
    const b = await raw(m.port, 'POST', '/v1/chat/completions', req, { 'x-request-id': 'same', 'x-mock-chunk-bytes': '1' });
    expect(norm(b.body)).toBe(norm(a.body));
    expect(b.chunks).toBeGreaterThan(1); // many reads (hundreds when idle; a loaded client coalesces them)
    const na = await raw(m.port, 'POST', '/v1/chat/completions', { model: 'mock-a', messages: [] }, { 'x-request-id': 'same2' });
    const nb = await raw(
      m.port,
      'POST',
      '/v1/chat/completions',
      { model: 'mock-a', messages: [] },
      { 'x-request-id': 'same2', 'x-mock-chunk-bytes': '1' },
    );
    expect(norm(nb.body)).toBe(norm(na.body));
    expect(nb.chunks).toBeGreaterThan(1);
  });

  it('truncate-after: the socket closes after K events, no [DONE]', async () => {
    const r = await raw(
      m.port,
      'POST',
      '/v1/chat/completions',
      { model: 'mock-a', messages: [], stream: true },
      { 'x-mock-truncate-after': '3', 'x-request-id': 'trunc-1' },
    );
    expect(r.status).toBe(200);
    expect(r.error?.code).toBe('ECONNRESET'); // the body ended without its last chunk
    const evs = sseEvents(r.body.toString('utf8'));
    expect(evs).toHaveLength(3);
    expect(r.body.toString()).not.toContain('[DONE]');
    // a deliberate cut is not a client abort
    expect((await json(m.port, 'GET', '/mock/aborted')).body).not.toContain('trunc-1');
  });

  it('silent-after: stops after K events, keeps the connection; the client leaving is recorded as aborted', async () => {
    const got: string[] = [];
    const req = http.request(
      {
        host: '127.0.0.1',
        port: m.port,
        method: 'POST',
        path: '/v1/chat/completions',
        agent: false,
        headers: { 'x-mock-silent-after': '2', 'x-request-id': 'silent-1' },
      },
      (res) => {
        res.setEncoding('utf8').on('data', (d: string) => got.push(d));
      },
    );
    req.on('error', () => {});
    req.end(JSON.stringify({ model: 'mock-a', messages: [], stream: true }));
    await waitFor(async () => sseEvents(got.join('')).length === 2);
    await sleep(200);
    expect(sseEvents(got.join(''))).toHaveLength(2);
    expect(req.destroyed).toBe(false);
    req.destroy();
    await waitFor(async () => (await json(m.port, 'GET', '/mock/aborted')).body.includes('silent-1'));
  });

  it('abort recording: a client that goes away mid-stream shows up in /mock/aborted', async () => {
    await new Promise<void>((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: m.port,
          method: 'POST',
          path: '/v1/chat/completions',
          agent: false,
          headers: { 'x-mock-token-delay-ms': '50', 'x-request-id': 'abort-me' },
        },
        (res) =>
          res.once('data', () => {
            req.destroy();
            resolve();
          }),
      );
      req.on('error', () => {});
      req.end(JSON.stringify({ model: 'mock-a', messages: [], stream: true }));
    });
    const ids = await waitFor(async () => {
      const a = (await json(m.port, 'GET', '/mock/aborted')).body as string[];
      return a.includes('abort-me') && a;
    });
    expect(ids).toContain('abort-me');
    const stats = (await json(m.port, 'GET', '/mock/stats')).body;
    expect(stats.aborted).toBeGreaterThanOrEqual(1);
  });

  it('reset: the body is read, the connection reset, nothing answered', async () => {
    const r = await raw(
      m.port,
      'POST',
      '/v1/chat/completions',
      { model: 'mock-a', messages: [{ role: 'user', content: 'reset me' }] },
      { 'x-mock-reset': '1', 'x-request-id': 'reset-1' },
    );
    expect(r.status).toBe(0);
    expect(r.error?.code).toMatch(/ECONNRESET|EPIPE/);
    const rec = ((await json(m.port, 'GET', '/mock/received')).body as Array<{ requestId: string; body: string }>).find(
      (x) => x.requestId === 'reset-1',
    );
    expect(rec?.body).toContain('reset me');
    expect((await json(m.port, 'GET', '/mock/aborted')).body).not.toContain('reset-1');
  });

  it('status knob: the status with a vLLM error body, or a custom one', async () => {
    const a = await json(m.port, 'POST', '/v1/chat/completions', { model: 'mock-a', messages: [] }, { 'x-mock-status': '503' });
    expect(a.status).toBe(503);
    expect(a.body).toMatchObject({ error: { type: 'ServiceUnavailableError', param: null, code: 503 } });
    const b = await raw(
      m.port,
      'POST',
      '/v1/chat/completions',
      { model: 'mock-a', messages: [] },
      { 'x-mock-status': '429', 'x-mock-error-body': '{"custom":true}' },
    );
    expect(b.status).toBe(429);
    expect(b.body.toString()).toBe('{"custom":true}');
  });

  it('delay knob waits before the headers', async () => {
    const t0 = Date.now();
    const r = await raw(m.port, 'GET', '/v1/models', undefined, { 'x-mock-delay-ms': '150' });
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('wrong model 404, invalid JSON 400, unknown path 404, admin path reached', async () => {
    const w = await raw(m.port, 'POST', '/v1/chat/completions', { model: 'x', messages: [] });
    expect(w.status).toBe(404);
    expect(w.body.toString()).toBe('{"error":{"message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}}');
    const bad = await json(m.port, 'POST', '/v1/chat/completions', '{"model": ');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { type: 'BadRequestError', code: 400 } });
    expect((await raw(m.port, 'GET', '/nope')).status).toBe(404);
    const a = await json(m.port, 'POST', '/pause', {});
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ ok: true, mock: 'admin path reached' });
  });

  it('other endpoints: embeddings, rerank, score, tokenize/detokenize, responses, messages, transcriptions', async () => {
    const e1 = await json(m.port, 'POST', '/v1/embeddings', { model: 'mock-a', input: 'abc' });
    const e2 = await json(m.port, 'POST', '/v1/embeddings', { model: 'mock-a', input: ['abc', 'def'] });
    expect(e1.body.data[0].embedding).toHaveLength(8);
    expect(e2.body.data).toHaveLength(2);
    expect(e2.body.data[0].embedding).toEqual(e1.body.data[0].embedding);
    const rr = await json(m.port, 'POST', '/v1/rerank', { model: 'mock-a', query: 'q', documents: ['a', 'b', 'c'], top_n: 2 });
    expect(rr.body.results).toHaveLength(2);
    const sc = await json(m.port, 'POST', '/v1/score', { model: 'mock-a', text_1: 'q', text_2: ['a', 'b'] });
    expect(sc.body.data).toHaveLength(2);
    const tk = await json(m.port, 'POST', '/tokenize', { model: 'mock-a', prompt: 'hé🚀' });
    expect(tk.body.count).toBe(3);
    const dt = await json(m.port, 'POST', '/detokenize', { model: 'mock-a', tokens: tk.body.tokens });
    expect(dt.body.prompt).toBe('hé🚀');
    const rs = await json(m.port, 'POST', '/v1/responses', { model: 'mock-a', input: 'hi' });
    expect(rs.body.output[0].content[0].text).toBe(DEFAULT_TEXT_16);
    const rss = await raw(m.port, 'POST', '/v1/responses', { model: 'mock-a', input: 'hi', stream: true });
    expect(rss.body.toString()).toContain('event: response.completed');
    const ms = await json(m.port, 'POST', '/v1/messages', { model: 'mock-a', max_tokens: 4, messages: [] });
    expect(ms.body).toMatchObject({ type: 'message', stop_reason: 'max_tokens', content: [{ type: 'text', text: 'héllo w' }] });
    const boundary = 'XyZ';
    const form = `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nmock-a\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF....\r\n--${boundary}--\r\n`;
    const tr = await json(m.port, 'POST', '/v1/audio/transcriptions', form, {
      'content-type': `multipart/form-data; boundary=${boundary}`,
    });
    expect(tr.status).toBe(200);
    expect(typeof tr.body.text).toBe('string');
    const trBad = await raw(m.port, 'POST', '/v1/audio/transcriptions', form.replace('mock-a', 'other'), {
      'content-type': `multipart/form-data; boundary=${boundary}`,
    });
    expect(trBad.status).toBe(404);
  });

  it('count_tokens, /pooling and /classify in vLLM’s shapes', async () => {
    const ct = await json(m.port, 'POST', '/v1/messages/count_tokens?beta=true', {
      model: 'mock-a',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(ct.status).toBe(200);
    expect(Object.keys(ct.body)).toEqual(['input_tokens']);
    const pool = await json(m.port, 'POST', '/pooling', { model: 'mock-a', input: ['a', 'b'] });
    expect(pool.body).toMatchObject({ object: 'list', model: 'mock-a', data: [{ index: 0, object: 'pooling' }, { index: 1 }] });
    expect(pool.body.id).toMatch(/^pool-/);
    const cls = await json(m.port, 'POST', '/classify', { model: 'mock-a', input: 'a' });
    expect(cls.body.id).toMatch(/^classify-/);
    const [d] = cls.body.data;
    expect(d.probs[0] + d.probs[1]).toBeCloseTo(1, 5);
    expect(d.label).toBe(d.probs[1] >= 0.5 ? 'LABEL_1' : 'LABEL_0');
    expect((await raw(m.port, 'POST', '/pooling', { model: 'mock-a' })).status).toBe(400);
  });

  it('the Anthropic routes answer an unknown model in Anthropic’s shape (translate_error_response)', async () => {
    for (const p of ['/v1/messages', '/v1/messages/count_tokens']) {
      const r = await json(m.port, 'POST', p, { model: 'other', max_tokens: 1, messages: [] });
      expect(r.status, p).toBe(404);
      expect(r.body, p).toEqual({ type: 'error', error: { type: 'NotFoundError', message: 'The model `other` does not exist.' } });
    }
  });

  it('without VLLM_ENABLE_RESPONSES_API_STORE nothing is stored and background is a 400, as in vLLM', async () => {
    const rs = await json(m.port, 'POST', '/v1/responses', { model: 'mock-a', input: 'hi' });
    expect(rs.body.store).toBe(false);
    const got = await json(m.port, 'GET', `/v1/responses/${rs.body.id}`);
    expect(got.status).toBe(404);
    expect(got.body.error.message).toBe(`Response with id '${rs.body.id}' not found.`);
    const bg = await json(m.port, 'POST', '/v1/responses', { model: 'mock-a', input: 'hi', background: true });
    expect(bg.status).toBe(400);
    expect(bg.body.error.message).toContain('VLLM_ENABLE_RESPONSES_API_STORE=1');
  });

  it('/mock/received records method, path with query, lower-case headers, body; /mock/reset clears', async () => {
    await raw(m.port, 'POST', '/v1/completions?x=1', { model: 'mock-a', prompt: 'recorded' }, { 'X-Request-Id': 'rec-1', 'X-Custom': 'v' });
    const list = (await json(m.port, 'GET', '/mock/received')).body as Array<{
      requestId: string;
      method: string;
      path: string;
      headers: Record<string, string>;
      body: string;
      at: number;
    }>;
    const rec = list.find((x) => x.requestId === 'rec-1')!;
    expect(rec).toMatchObject({ method: 'POST', path: '/v1/completions?x=1' });
    expect(rec.headers['x-custom']).toBe('v');
    expect(JSON.parse(rec.body).prompt).toBe('recorded');
    expect(typeof rec.at).toBe('number');
    expect(list.some((x) => String(x.path).startsWith('/mock/'))).toBe(false);
    expect((await json(m.port, 'POST', '/mock/reset')).status).toBe(200);
    expect((await json(m.port, 'GET', '/mock/received')).body).toEqual([]);
    expect((await json(m.port, 'GET', '/mock/aborted')).body).toEqual([]);
    const stats = (await json(m.port, 'GET', '/mock/stats')).body;
    expect(stats).toMatchObject({ received: 0, aborted: 0, completed: 0, inProgress: 0 });
  });
});

describe('tool calls and reasoning (as vLLM with --enable-auto-tool-choice / --reasoning-parser)', () => {
  const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
  const tools = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
  ];
  let m: Mock;
  let plain: Mock;
  beforeAll(async () => {
    m = await startMock([
      '--served-model-name',
      'tc',
      '--enable-auto-tool-choice',
      '--tool-call-parser',
      'hermes',
      '--reasoning-parser',
      'qwen3',
    ]);
    plain = await startMock(['--served-model-name', 'plain']);
  });
  afterAll(async () => {
    for (const x of [m, plain]) {
      x.proc.kill('SIGTERM');
      await x.exited;
    }
  });

  it('parses the flags', () => {
    const o = parseArgs(['--enable-auto-tool-choice', '--tool-call-parser', 'hermes', '--reasoning-parser=deepseek_r1'], {});
    expect([o.autoToolChoice, o.toolCallParser, o.reasoningParser, o.ignored]).toEqual([true, 'hermes', 'deepseek_r1', []]);
  });

  it('tools without --enable-auto-tool-choice: 400 with vLLM’s message', async () => {
    const r = await json(plain.port, 'POST', '/v1/chat/completions', { model: 'plain', messages: [{ role: 'user', content: 'x' }], tools });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe('"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set');
  });

  it('a tool call, not streamed: tool_calls with JSON-text arguments, null content, finish_reason tool_calls', async () => {
    const r = await json(
      m.port,
      'POST',
      '/v1/chat/completions',
      { model: 'tc', messages: [{ role: 'user', content: 'weather?' }], tools },
      { 'x-mock-tool-call': b64({ name: 'get_weather', arguments: { city: 'Tokyo' } }) },
    );
    expect(r.status).toBe(200);
    const choice = r.body.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toHaveLength(1);
    expect(choice.message.tool_calls[0]).toMatchObject({
      type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Tokyo"}' },
    });
    expect(choice.message.tool_calls[0].id).toMatch(/^chatcmpl-tool-/);
  });

  it('a tool call, streamed: the name first, the arguments in fragments, then finish_reason', async () => {
    const r = await raw(
      m.port,
      'POST',
      '/v1/chat/completions',
      { model: 'tc', messages: [{ role: 'user', content: 'weather?' }], tools, stream: true },
      { 'x-mock-tool-call': b64({ name: 'get_weather', arguments: { city: 'Tokyo' } }) },
    );
    const objs = sseEvents(r.body.toString('utf8'))
      .filter((e) => e !== 'data: [DONE]')
      .map((e) => JSON.parse(e.slice(6)));
    const deltas = objs.map((o) => o.choices[0]?.delta?.tool_calls?.[0]).filter(Boolean);
    expect(deltas[0].function).toEqual({ name: 'get_weather' });
    expect(
      deltas
        .slice(1)
        .map((d: { function: { arguments: string } }) => d.function.arguments)
        .join(''),
    ).toBe('{"city":"Tokyo"}');
    expect(deltas.length).toBeGreaterThan(2);
    expect(objs.at(-1).choices[0].finish_reason).toBe('tool_calls');
  });

  it('reasoning: streamed as `reasoning` deltas before the content; whole in message.reasoning', async () => {
    const h = { 'x-mock-reasoning': b64('thinking hard'), 'x-mock-text': b64('answer') };
    const r = await raw(m.port, 'POST', '/v1/chat/completions', { model: 'tc', messages: [], stream: true }, h);
    const deltas = sseEvents(r.body.toString('utf8'))
      .filter((e) => e !== 'data: [DONE]')
      .map((e) => JSON.parse(e.slice(6)).choices[0].delta);
    const thinking = deltas.filter((d) => d.reasoning !== undefined);
    expect(thinking.map((d) => d.reasoning).join('')).toBe('thinking hard');
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('answer');
    expect(deltas.findIndex((d) => d.reasoning !== undefined)).toBeLessThan(deltas.findIndex((d) => d.content === 'answer'.slice(0, 4)));
    const whole = await json(m.port, 'POST', '/v1/chat/completions', { model: 'tc', messages: [] }, h);
    expect(whole.body.choices[0].message).toMatchObject({ content: 'answer', reasoning: 'thinking hard' });
    // without --reasoning-parser the header changes nothing
    const p = await json(plain.port, 'POST', '/v1/chat/completions', { model: 'plain', messages: [] }, h);
    expect(p.body.choices[0].message).toMatchObject({ content: 'answer', reasoning_content: null });
  });
});

describe('sleep mode', () => {
  const DEV = { VLLM_SERVER_DEV_MODE: '1' };
  const sleepArgs = (...extra: string[]) => ['serve', 'm', '--served-model-name', 'mock-s', '--enable-sleep-mode', ...extra];
  const complete = (port: number, extra: Record<string, unknown> = {}, headers?: Record<string, string>) =>
    json(port, 'POST', '/v1/completions', { model: 'mock-s', prompt: 'x', max_tokens: 3, ...extra }, headers);
  const stats = async (port: number) => (await json(port, 'GET', '/mock/stats')).body;
  const sleepState = async (port: number) => {
    const text = (await raw(port, 'GET', '/metrics')).body.toString();
    return [...text.matchAll(/^vllm:engine_sleep_state\{[^}]*sleep_state="(\w+)"\} (\S+)$/gm)]
      .filter((x) => x[2] === '1.0')
      .map((x) => x[1]);
  };

  it('parseArgs: --enable-sleep-mode, the delays, and VLLM_SERVER_DEV_MODE read as vLLM reads it', () => {
    const o = parseArgs(['--enable-sleep-mode', '--mock-sleep-delay-ms', '5', '--mock-wake-delay-ms=6', '--mock-reload-delay-ms', '7'], {
      VLLM_SERVER_DEV_MODE: '1',
      MOCK_SLEEP_RESIDUE_MIB: '300',
    });
    expect(o).toMatchObject({
      enableSleepMode: true,
      sleepDelayMs: 5,
      wakeDelayMs: 6,
      reloadDelayMs: 7,
      sleepResidueMib: 300,
      devMode: true,
    });
    expect(o.ignored).toEqual([]);
    expect(parseArgs([], {})).toMatchObject({ enableSleepMode: false, devMode: false, sleepResidueMib: 512 });
    expect(parseArgs([], { VLLM_SERVER_DEV_MODE: '0' }).devMode).toBe(false);
    expect(parseArgs([], { VLLM_SERVER_DEV_MODE: 'true' }).devMode).toBe(false); // int("true") fails in vLLM: not dev mode
  });

  it('the dev endpoints exist only with VLLM_SERVER_DEV_MODE=1 (404 otherwise)', async () => {
    const m = await startMock(sleepArgs());
    for (const [method, p] of [
      ['POST', '/sleep?level=1'],
      ['POST', '/wake_up'],
      ['GET', '/is_sleeping'],
      ['POST', '/collective_rpc'],
    ]) {
      const r = await json(m.port, method, p, method === 'POST' ? { method: 'reload_weights' } : undefined);
      expect([p, r.status, r.body]).toEqual([p, 404, { detail: 'Not Found' }]);
    }
    expect((await complete(m.port)).status).toBe(200); // nothing slept
    expect(m.stdout()).not.toContain('SECURITY WARNING');
    m.proc.kill('SIGTERM');
  });

  it('dev mode without --enable-sleep-mode: /sleep and /wake_up fail with 500, /is_sleeping is false', async () => {
    const m = await startMock(['serve', 'm', '--served-model-name', 'mock-s'], { env: DEV });
    expect(m.stdout()).toContain('SECURITY WARNING: Development endpoints are enabled!');
    for (const p of ['/sleep?level=1', '/wake_up']) {
      const r = await raw(m.port, 'POST', p);
      expect([r.status, r.body.toString()]).toEqual([500, 'Internal Server Error']);
    }
    expect((await json(m.port, 'GET', '/is_sleeping')).body).toEqual({ is_sleeping: false });
    expect((await json(m.port, 'GET', '/wake_up')).status).toBe(405);
    expect(m.stderr()).toContain('Sleep mode is not enabled in the model config');
    expect((await complete(m.port)).status).toBe(200);
    m.proc.kill('SIGTERM');
  });

  it('level 1: weights to host RAM, VRAM down to the residue, a repeated sleep is 200, wake restores everything', async () => {
    const m = await startMock(sleepArgs('--mock-vram-mib', '8192', '--mock-sleep-residue-mib', '600'), { env: DEV });
    expect(await sleepState(m.port)).toEqual(['awake']);
    const s = await raw(m.port, 'POST', '/sleep?level=1');
    expect([s.status, s.body.length]).toEqual([200, 0]);
    expect((await json(m.port, 'GET', '/is_sleeping')).body).toEqual({ is_sleeping: true });
    expect(await sleepState(m.port)).toEqual(['weights_offloaded']);
    expect((await stats(m.port)).sleep).toMatchObject({
      weights: 'offloaded',
      kvCache: 'discarded',
      vramMib: 600,
      hostRamMib: 3796,
      sleeps: 1,
    });
    // what nvidia-smi's /proc scan sees (the fake reads the command line)
    expect(fs.readFileSync(`/proc/${m.proc.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('vllm --mock-vram-mib=600');
    expect((await raw(m.port, 'POST', '/sleep?level=1')).status).toBe(200); // vllm #45518
    expect((await stats(m.port)).sleep.sleeps).toBe(1);
    // endpoints that need no weights keep answering
    expect((await raw(m.port, 'GET', '/health')).status).toBe(200);
    expect((await json(m.port, 'POST', '/tokenize', { model: 'mock-s', prompt: 'ab' })).body.count).toBe(2);
    expect(m.stdout()).toMatch(/Sleep mode freed 7\.41 GiB memory, 0\.59 GiB memory is still in use\./);
    const w = await raw(m.port, 'POST', '/wake_up');
    expect([w.status, w.body.length]).toEqual([200, 0]);
    expect((await json(m.port, 'GET', '/is_sleeping')).body).toEqual({ is_sleeping: false });
    expect(await sleepState(m.port)).toEqual(['awake']);
    expect((await stats(m.port)).sleep).toMatchObject({ weights: 'awake', kvCache: 'awake', vramMib: 8192, hostRamMib: 0, wakes: 1 });
    expect(fs.readFileSync(`/proc/${m.proc.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('vllm --mock-vram-mib=8192');
    const c = await complete(m.port);
    expect(c.body.choices[0].text).toBe('héllo');
    m.proc.kill('SIGTERM');
  });

  it('wake by tags: /is_sleeping stays true until every tag is awake', async () => {
    const m = await startMock(sleepArgs('--mock-vram-mib', '4096'), { env: DEV });
    await raw(m.port, 'POST', '/sleep?level=1');
    expect((await raw(m.port, 'POST', '/wake_up?tags=weights')).status).toBe(200);
    expect((await json(m.port, 'GET', '/is_sleeping')).body).toEqual({ is_sleeping: true });
    expect((await stats(m.port)).sleep).toMatchObject({ weights: 'awake', kvCache: 'discarded', vramMib: 512 + 1792 });
    expect((await raw(m.port, 'POST', '/wake_up?tags=kv_cache')).status).toBe(200);
    expect((await json(m.port, 'GET', '/is_sleeping')).body).toEqual({ is_sleeping: false });
    expect((await stats(m.port)).sleep.vramMib).toBe(4096);
    m.proc.kill('SIGTERM');
  });

  it('level 2: garbage after a wake without reload_weights; the documented sequence serves correctly', async () => {
    const m = await startMock(sleepArgs('--mock-vram-mib', '4096'), { env: DEV });
    await raw(m.port, 'POST', '/sleep?level=2');
    expect(await sleepState(m.port)).toEqual(['discard_all']);
    expect((await stats(m.port)).sleep).toMatchObject({ weights: 'discarded', hostRamMib: 0, vramMib: 512 });
    await raw(m.port, 'POST', '/wake_up');
    expect((await json(m.port, 'GET', '/is_sleeping')).body).toEqual({ is_sleeping: false });
    const bad = await complete(m.port);
    expect(bad.status).toBe(200);
    expect(bad.body.choices[0].text).toBe('!!!!!!!!!!!!');
    expect(m.stdout()).toContain('reload_weights');
    // the sequence of vLLM's docs
    await raw(m.port, 'POST', '/sleep?level=2');
    expect((await raw(m.port, 'POST', '/wake_up?tags=weights')).status).toBe(200);
    const rpc = await json(m.port, 'POST', '/collective_rpc', { method: 'reload_weights' });
    expect([rpc.status, rpc.body]).toEqual([200, { results: [null] }]);
    expect((await raw(m.port, 'POST', '/wake_up?tags=kv_cache')).status).toBe(200);
    expect((await complete(m.port)).body.choices[0].text).toBe('héllo');
    // collective_rpc's own errors
    expect(await json(m.port, 'POST', '/collective_rpc', {})).toMatchObject({
      status: 400,
      body: { detail: "Missing 'method' in request body" },
    });
    expect((await raw(m.port, 'POST', '/collective_rpc', '{"method":')).status).toBe(400);
    expect((await raw(m.port, 'POST', '/collective_rpc', { method: 'no_such' })).status).toBe(500);
    m.proc.kill('SIGTERM');
  });

  it('a generation request while asleep kills the server (vllm #15483)', async () => {
    const m = await startMock(sleepArgs(), { env: DEV });
    await raw(m.port, 'POST', '/sleep?level=1');
    const r = await complete(m.port);
    expect(r.status).toBe(0); // no answer: the process is gone
    expect(await m.exited).toEqual({ code: 1, signal: null });
    expect(m.stderr()).toContain('CUDA error: an illegal memory access was encountered');
  });

  it('a request while only the weights are awake (mid level-2 wake) kills it too', async () => {
    const m = await startMock(sleepArgs(), { env: DEV });
    await raw(m.port, 'POST', '/sleep?level=2');
    await raw(m.port, 'POST', '/wake_up?tags=weights');
    await json(m.port, 'POST', '/v1/embeddings', { model: 'mock-s', input: 'x' });
    expect((await m.exited).code).toBe(1);
  });

  it('mode=abort (the default) ends requests in flight with finish_reason "abort"; mode=wait lets them finish', async () => {
    const m = await startMock(sleepArgs('--mock-token-delay-ms', '100'), { env: DEV });
    const stream = raw(m.port, 'POST', '/v1/chat/completions', { model: 'mock-s', messages: [], stream: true, max_tokens: 50 });
    const plain = complete(m.port, { max_tokens: 50 });
    await waitFor(async () => (await stats(m.port)).inProgress === 2);
    expect((await raw(m.port, 'POST', '/sleep?level=1')).status).toBe(200);
    const events = sseEvents((await stream).body.toString());
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(JSON.parse(events.at(-2)!.slice(6)).choices[0].finish_reason).toBe('abort');
    expect(events.length).toBeLessThan(50);
    const p = await plain;
    expect([p.status, p.body.choices[0].finish_reason, p.body.choices[0].text]).toEqual([200, 'abort', '']);
    await raw(m.port, 'POST', '/wake_up');
    // wait: the sleep answers only once the request has finished, which ends normally
    const running = complete(m.port, { max_tokens: 5 });
    await waitFor(async () => (await stats(m.port)).inProgress === 1);
    const slept = raw(m.port, 'POST', '/sleep?level=1&mode=wait');
    const done = await running;
    expect(done.body.choices[0].finish_reason).toBe('length');
    expect((await slept).status).toBe(200);
    expect((await json(m.port, 'GET', '/is_sleeping')).body).toEqual({ is_sleeping: true });
    m.proc.kill('SIGTERM');
  });

  it('sleep, wake and reload take their configured delays; /is_sleeping is true while waking', async () => {
    const m = await startMock(sleepArgs('--mock-sleep-delay-ms', '150', '--mock-wake-delay-ms', '300', '--mock-reload-delay-ms', '150'), {
      env: DEV,
    });
    let t0 = Date.now();
    await raw(m.port, 'POST', '/sleep?level=2');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    t0 = Date.now();
    const waking = raw(m.port, 'POST', '/wake_up?tags=weights');
    await sleep(50);
    expect((await json(m.port, 'GET', '/is_sleeping')).body).toEqual({ is_sleeping: true });
    expect((await stats(m.port)).sleep.op).toBe('wake');
    expect((await waking).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    t0 = Date.now();
    await json(m.port, 'POST', '/collective_rpc', { method: 'reload_weights' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    await raw(m.port, 'POST', '/wake_up?tags=kv_cache');
    expect((await json(m.port, 'GET', '/is_sleeping')).body).toEqual({ is_sleeping: false });
    m.proc.kill('SIGTERM');
  });

  it('level 0 only pauses: memory stays, requests wait for the wake', async () => {
    const m = await startMock(sleepArgs('--mock-vram-mib', '2048'), { env: DEV });
    await raw(m.port, 'POST', '/sleep?level=0');
    expect((await json(m.port, 'GET', '/is_sleeping')).body).toEqual({ is_sleeping: true });
    expect((await stats(m.port)).sleep.vramMib).toBe(2048);
    let answered = false;
    const held = complete(m.port).then((r) => ((answered = true), r));
    await waitFor(async () => (await stats(m.port)).inProgress === 1);
    expect(answered).toBe(false);
    await raw(m.port, 'POST', '/wake_up');
    expect((await held).body.choices[0].text).toBe('héllo');
    m.proc.kill('SIGTERM');
  });

  it('the fake nvidia-smi sees the memory go while asleep and come back at the wake', async () => {
    const scope = `mock-sleep-${process.pid}`;
    const m = await startMock(sleepArgs('--mock-vram-mib', '6000', '--mock-gpu-index', '1'), {
      env: { ...DEV, FAKE_NVIDIA_SMI_SCOPE: scope },
    });
    const smi = () => {
      const r = spawnSync(process.execPath, [FAKE_SMI, '--query-compute-apps=pid,used_memory,gpu_uuid', '--format=csv,noheader,nounits'], {
        env: { PATH: process.env.PATH ?? '', FAKE_NVIDIA_SMI_GPUS: 'A:24000,B:24000', FAKE_NVIDIA_SMI_SCOPE: scope },
        encoding: 'utf8',
      });
      return r.stdout.trim();
    };
    expect(smi()).toBe(`${m.proc.pid}, 6000, GPU-fake-1`);
    await raw(m.port, 'POST', '/sleep?level=1');
    expect(smi()).toBe(`${m.proc.pid}, 512, GPU-fake-1`);
    await raw(m.port, 'POST', '/wake_up');
    expect(smi()).toBe(`${m.proc.pid}, 6000, GPU-fake-1`);
    m.proc.kill('SIGTERM');
  });
});

describe('/metrics: vLLM families that follow what the mock generates', () => {
  const readMetrics = async (port: number) => {
    const r = await raw(port, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    return r.body.toString('utf8');
  };
  /** One sample's value by name and label subset, straight from the text. */
  const sample = (text: string, name: string, labels: Record<string, string> = {}) => {
    for (const line of text.split('\n')) {
      const m = /^([^{\s]+)\{([^}]*)\} (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      if (Object.entries(labels).every(([k, v]) => m[2].includes(`${k}="${v}"`))) return Number(m[3]);
    }
    return undefined;
  };

  it('counters grow with the tokens generated; running, waiting and KV cache follow the requests in flight', async () => {
    const m = await startMock([
      '--served-model-name',
      'mm',
      '--mock-tokens',
      '20',
      '--mock-token-delay-ms',
      '40',
      '--max-num-seqs',
      '2',
      '--mock-kv-cache-tokens',
      '1000',
    ]);
    const idle = await readMetrics(m.port);
    expect(idle).toContain('# TYPE vllm:kv_cache_usage_perc gauge');
    expect(sample(idle, 'vllm:num_requests_running', { engine: '0', model_name: 'mm' })).toBe(0);
    expect(sample(idle, 'vllm:generation_tokens_total')).toBe(0);
    expect(sample(idle, 'vllm:kv_cache_usage_perc')).toBe(0);
    expect(sample(idle, 'vllm:engine_sleep_state', { sleep_state: 'awake' })).toBe(1);
    expect(sample(idle, 'vllm:engine_sleep_state', { sleep_state: 'weights_offloaded' })).toBe(0);

    const body = {
      model: 'mm',
      messages: [{ role: 'user', content: 'count to twenty' }],
      stream: true,
      stream_options: { include_usage: true },
    };
    const streams = [1, 2, 3].map(() => raw(m.port, 'POST', '/v1/chat/completions', body));
    const busy = await waitFor(async () => {
      const t = await readMetrics(m.port);
      return (sample(t, 'vllm:generation_tokens_total') ?? 0) > 0 && t;
    });
    expect(sample(busy, 'vllm:num_requests_running')).toBe(2); // --max-num-seqs 2
    expect(sample(busy, 'vllm:num_requests_waiting')).toBe(1);
    expect(sample(busy, 'vllm:kv_cache_usage_perc')).toBeGreaterThan(0);
    // The waiting request gets no token while it waits: until one of the two running ones has
    // finished (20 tokens each), at most 40 tokens exist however late the scrape.
    let finished = false;
    const all = Promise.all(streams).finally(() => (finished = true));
    const whileWaiting: number[] = [];
    while (!finished) {
      const t = await readMetrics(m.port);
      if (sample(t, 'vllm:num_requests_waiting') === 1) whileWaiting.push(sample(t, 'vllm:generation_tokens_total') ?? 0);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(Math.max(...whileWaiting)).toBeLessThanOrEqual(40);
    expect(Math.max(...whileWaiting)).toBeGreaterThanOrEqual(20); // sampled while the running two generated
    const done = await all;
    const usage = done.map((r) => JSON.parse(sseEvents(r.body.toString('utf8')).at(-2)!.slice(6)).usage);
    const after = await readMetrics(m.port);
    expect(sample(after, 'vllm:generation_tokens_total')).toBe(60);
    expect(sample(after, 'vllm:prompt_tokens_total')).toBe(usage.reduce((a, u) => a + u.prompt_tokens, 0));
    expect(sample(after, 'vllm:request_success_total', { finished_reason: 'stop' })).toBe(3);
    expect(sample(after, 'vllm:num_requests_running')).toBe(0);
    expect(sample(after, 'vllm:kv_cache_usage_perc')).toBe(0);
    m.proc.kill('SIGTERM');
    await m.exited;
  });

  it('legacy names (gpu_cache_usage_perc, no engine label, no sleep state), and none: 404 like a server without metrics', async () => {
    const legacy = await startMock(['--mock-metrics', 'legacy']);
    const text = await readMetrics(legacy.port);
    expect(text).toContain('# TYPE vllm:gpu_cache_usage_perc gauge');
    expect(text).not.toContain('kv_cache_usage_perc');
    expect(text).not.toContain('engine_sleep_state');
    expect(text).not.toContain('engine="0"');
    const none = await startMock(['--mock-metrics', 'none']);
    expect((await raw(none.port, 'GET', '/metrics')).status).toBe(404);
    for (const x of [legacy, none]) {
      x.proc.kill('SIGTERM');
      await x.exited;
    }
    expect(() => parseArgs(['--mock-metrics', 'prometheus'])).toThrow(/invalid choice/);
  });
});

describe('request priority (as vLLM with --scheduling-policy)', () => {
  const chat = (priority?: unknown) => ({
    model: 'mock-a',
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 1,
    ...(priority === undefined ? {} : { priority }),
  });
  const received = async (m: Mock, id: string) =>
    ((await json(m.port, 'GET', '/mock/received')).body as Array<{ requestId: string; priority?: number }>).find((x) => x.requestId === id);

  it('--scheduling-policy takes fcfs or priority, as vLLM’s argparse does', () => {
    expect(parseArgs(['--scheduling-policy', 'priority']).schedulingPolicy).toBe('priority');
    expect(parseArgs(['--scheduling-policy=fcfs']).schedulingPolicy).toBe('fcfs');
    expect(parseArgs([]).schedulingPolicy).toBe('fcfs');
    expect(() => parseArgs(['--scheduling-policy', 'lifo'])).toThrow(/invalid choice: 'lifo'/);
  });

  it('fcfs (the default): priority 0 or none is accepted, any other is 400 with vLLM’s message', async () => {
    const m = await startMock(['--served-model-name', 'mock-a']);
    try {
      expect((await json(m.port, 'POST', '/v1/chat/completions', chat(0), { 'x-request-id': 'p0' })).status).toBe(200);
      expect((await received(m, 'p0'))?.priority).toBe(0);
      const r = await json(m.port, 'POST', '/v1/chat/completions', chat(1));
      expect(r.status).toBe(400);
      expect(r.body.error.message).toBe('Got priority 1 but Priority scheduling is not enabled.');
      expect((await json(m.port, 'POST', '/v1/embeddings', { model: 'mock-a', input: 'x', priority: 1 })).status).toBe(400);
      // tokenize has no priority field: an extra key is ignored, as pydantic's extra="allow" does
      expect((await json(m.port, 'POST', '/tokenize', { model: 'mock-a', prompt: 'x', priority: 1 })).status).toBe(200);
    } finally {
      m.proc.kill('SIGTERM');
      await m.exited;
    }
  });

  it('priority: the engine runs waiting streams by (priority, arrival); fcfs by arrival', async () => {
    for (const policy of ['priority', 'fcfs']) {
      const m = await startMock(['--served-model-name', 'mock-a', '--scheduling-policy', policy, '--max-num-seqs', '1']);
      try {
        const ended: string[] = [];
        const stream = (id: string, priority: number) =>
          raw(
            m.port,
            'POST',
            '/v1/chat/completions',
            { ...chat(policy === 'priority' ? priority : 0), stream: true, max_tokens: 5 },
            {
              'x-request-id': id,
              'x-mock-token-delay-ms': '40',
            },
          ).then(() => ended.push(id));
        const first = stream('running', 1);
        await waitFor(async () => (await received(m, 'running'))?.priority !== undefined);
        await sleep(120); // it runs (and has generated tokens)
        const later = [stream('batch', 1)];
        await waitFor(async () => (await received(m, 'batch'))?.priority !== undefined);
        later.push(stream('urgent', 0));
        await Promise.all([first, ...later]);
        // One sequence at a time: the running one finishes; then, by priority, the later arrival.
        expect(ended, policy).toEqual(policy === 'priority' ? ['running', 'urgent', 'batch'] : ['running', 'batch', 'urgent']);
      } finally {
        m.proc.kill('SIGTERM');
        await m.exited;
      }
    }
  });

  it('priority: any integer is accepted, recorded and logged (--mock-log-every-request)', async () => {
    const m = await startMock(['--served-model-name', 'mock-a', '--scheduling-policy', 'priority', '--mock-log-every-request']);
    try {
      expect((await json(m.port, 'POST', '/v1/chat/completions', chat(1), { 'x-request-id': 'p1' })).status).toBe(200);
      expect((await received(m, 'p1'))?.priority).toBe(1);
      expect(m.stdout()).toMatch(/Received request p1: priority: 1/);
      expect((await json(m.port, 'POST', '/v1/chat/completions', chat('high'))).status).toBe(400);
    } finally {
      m.proc.kill('SIGTERM');
      await m.exited;
    }
  });
});
