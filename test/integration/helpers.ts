// Shared helpers for the integration tests: a real gateway on port 0 built from a YAML string,
// real mock vLLM child processes (process models, or standalone mocks for remote models), an
// admin fetch, wait-until, and a cleanup that always closes the gateway and kills every child.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { expect } from 'vitest';
import { request as undiciRequest, Agent, type Dispatcher } from 'undici';
import { parseConfigText } from '../../gateway/config/load-config.js';
import type { GatewayConfig } from '../../gateway/config/types.js';
import { StaticProbe } from '../../gateway/gpu/static-probe.js';
import { createGateway, type Gateway } from '../../gateway/index.js';
import { ProcessRuntime } from '../../gateway/runtimes/process-runtime.js';
import type { Instance, Runtime, StartRequest } from '../../gateway/runtimes/runtime.js';
import type { StatusDocument } from '../../gateway/status-types.js';

export const MOCK_VLLM = fileURLToPath(new URL('../fixtures/mock-vllm.mjs', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/** The mock vLLM script and the serve arguments the gateway fills in, as a command runs them after node. */
export const MOCK_SERVE_ARGS: readonly string[] = [
  MOCK_VLLM,
  '--served-model-name',
  '${MODEL_ID}',
  '--host',
  '127.0.0.1',
  '--port',
  '${PORT}',
];
/** The GPU share the gateway works out for a process model, passed on to the server. */
export const GPU_UTILIZATION_ARGS: readonly string[] = ['--gpu-memory-utilization', '${GPU_MEMORY_UTILIZATION}'];

/** A YAML flow list running the mock vLLM server as a process model, with extra `--mock-*` knobs. */
export function mockCommand(...knobs: Array<string | number>): string {
  return JSON.stringify([process.execPath, ...MOCK_SERVE_ARGS, ...GPU_UTILIZATION_ARGS, ...knobs.map(String)]);
}

/** A process model block (indented for `models:`). */
export function processModel(id: string, opts: { vramGiB?: number; knobs?: Array<string | number>; extra?: string } = {}): string {
  return [
    `  ${id}:`,
    `    runtime: process`,
    `    command: ${mockCommand(...(opts.knobs ?? []))}`,
    `    vramGiB: ${opts.vramGiB ?? 4}`,
    ...(opts.extra ? opts.extra.split('\n').map((l) => `    ${l}`) : []),
  ].join('\n');
}

/** A config with quick timings; `body` holds the `models:` section and any overrides. */
export function baseYaml(body: string, over: { limits?: string; retry?: string; timeouts?: string; extra?: string } = {}): string {
  return `
listen: { host: 127.0.0.1, port: 0 }
auth: { adminToken: ${ADMIN_TOKEN} }
limits: ${over.limits ?? '{ queueTimeoutSeconds: 5 }'}
retry: ${over.retry ?? '{ maxAttempts: 3, initialDelaySeconds: 0.05, backoff: 2 }'}
timeouts: ${over.timeouts ?? '{ connectSeconds: 2, firstByteSeconds: 10, idleSeconds: 10, startSeconds: 15 }'}
shutdown: { drainSeconds: 2 }
gpu: { probe: static, reserveGiB: 0.5, static: [{ name: "Test GPU", totalGiB: 24 }] }
${over.extra ?? ''}
${body}
`;
}

/** `source`: the name config issues carry; `what`: how the error names the config. */
export function parseYaml(yaml: string, source = '<test>', what = 'test'): GatewayConfig {
  const { config, issues } = parseConfigText(yaml, source, { HOME: process.env.HOME ?? '/tmp' });
  if (!config) throw new Error(`bad ${what} config:\n${issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`);
  return config;
}

/** The process runtime, remembering every instance it started so cleanup can kill it whatever happened. */
export abstract class InstanceTrackingRuntime implements Runtime {
  readonly kind = 'process' as const;
  readonly instances: Instance[] = [];
  private readonly inner = new ProcessRuntime({ configDir: REPO_ROOT });
  /** Called as each start() begins. */
  protected abstract noteStart(req: StartRequest): void;
  health() {
    return this.inner.health();
  }
  async start(req: StartRequest): Promise<Instance> {
    this.noteStart(req);
    const inst = await this.inner.start(req);
    this.instances.push(inst);
    return inst;
  }
  async killAll(): Promise<void> {
    await Promise.all(this.instances.map((i) => i.stop(500).catch(() => {})));
  }
}

/** Also remembers the model id of each start() call, in order. */
export class TrackingRuntime extends InstanceTrackingRuntime {
  readonly starts: string[] = [];
  protected override noteStart(req: StartRequest): void {
    this.starts.push(req.model.id);
  }
}

/** An info-level logger keeping its lines in `logs` (the oldest thousand dropped past 5000). */
export function memoryLogger(logs: string[]): Logger {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      if (logs.length > 5000) logs.splice(0, 1000);
      cb();
    },
  });
  return pino({ level: 'info', base: undefined }, sink);
}

/** The model `id` in the gateway's status document; throws when there is none. */
export function findModel(gw: Gateway, id: string): StatusDocument['models'][number] {
  const m = gw.status().models.find((x) => x.id === id);
  if (!m) throw new Error(`no model ${id}`);
  return m;
}

export interface TestGateway {
  gw: Gateway;
  url: string;
  runtime: TrackingRuntime;
  logs: string[];
  /** Closes the gateway (idempotent) and kills every child it started. */
  close(): Promise<void>;
  status(): Promise<StatusDocument>;
  model(id: string): Promise<StatusDocument['models'][number]>;
}

const openGateways = new Set<TestGateway>();
const openMocks = new Set<ChildProcess>();

export async function startGateway(yaml: string, opts: { noGpu?: boolean } = {}): Promise<TestGateway> {
  const config = parseYaml(yaml);
  const logs: string[] = [];
  const logger = memoryLogger(logs);
  const runtime = new TrackingRuntime();
  const gw = await createGateway(config, {
    logger,
    gpuProbe: opts.noGpu ? null : new StaticProbe(config.gpu.static),
    runtimes: { process: runtime },
  });
  const url = await gw.listen();
  let closed: Promise<void> | null = null;
  const t: TestGateway = {
    gw,
    url,
    runtime,
    logs,
    close() {
      closed ??= (async () => {
        openGateways.delete(t);
        await Promise.race([gw.close(), sleep(8000)]).catch(() => {});
        await runtime.killAll();
      })();
      return closed;
    },
    async status() {
      return gw.status();
    },
    async model(id) {
      return findModel(gw, id);
    },
  };
  openGateways.add(t);
  return t;
}

/** For afterEach/afterAll: close every gateway still open and kill every standalone mock. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...openGateways].map((g) => g.close()));
  await Promise.all([...openMocks].map((c) => killMock(c)));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a truthy value (or stops throwing); fails after `timeoutMs`. */
export async function waitUntil<T>(fn: () => T | Promise<T>, timeoutMs = 5000, what = 'condition', everyMs = 20): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
      );
    await sleep(everyMs);
  }
}

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One-connection agent so tests never share sockets with a closing gateway. */
export const agent: Dispatcher = new Agent({ keepAliveTimeout: 10, pipelining: 0 });

export async function http(
  base: string,
  path: string,
  opts: { method?: string; body?: string | Buffer; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Res> {
  const res = await undiciRequest(base + path, {
    method: (opts.method ?? (opts.body !== undefined ? 'POST' : 'GET')) as Dispatcher.HttpMethod,
    body: opts.body,
    headers:
      opts.body !== undefined && typeof opts.body === 'string' ? { 'content-type': 'application/json', ...opts.headers } : opts.headers,
    signal: opts.signal,
    dispatcher: agent,
  });
  const text = await res.body.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

/** POST a JSON body to a proxied path. */
export function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Res> {
  return http(base, path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers, signal });
}

/** How a response read chunk by chunk ended: cleanly (error null) or with the error the client saw. */
export interface ReadOutcome {
  status: number;
  text: string;
  /** Data events seen (`data: {` lines), for SSE responses. */
  events: number;
  /** performance.now() when the response headers came, and when its last chunk came. */
  headersAt: number;
  lastChunkAt: number;
  /** performance.now() when the body ended or failed. */
  endedAt: number;
  error: (Error & { code?: string }) | null;
}

/** How undici reports a chunked (streamed) body whose connection closed before its last chunk. */
export const CUT_CHUNKED_BODY = { name: 'HTTPParserError', message: expect.stringContaining('Invalid EOF state') };
/** How undici reports a body with a content-length whose connection closed before it was all there. */
export const CUT_SIZED_BODY = { code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' };

/**
 * POSTs `body` and reads the answer chunk by chunk, noting when each part came and how it ended.
 * `onFirstChunk` runs when the first body chunk arrives: a fault injected then hits an answer
 * that has begun (an in-flight count alone is reached before the upstream has answered).
 */
export async function postAndRead(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  onFirstChunk?: () => void,
): Promise<ReadOutcome> {
  const res = await undiciRequest(base + path, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
    dispatcher: agent,
  });
  const headersAt = performance.now();
  const chunks: Buffer[] = [];
  let lastChunkAt = headersAt;
  let error: ReadOutcome['error'] = null;
  try {
    for await (const chunk of res.body) {
      if (chunks.length === 0) onFirstChunk?.();
      chunks.push(chunk as Buffer);
      lastChunkAt = performance.now();
    }
  } catch (err) {
    error = err as ReadOutcome['error'];
  }
  const endedAt = performance.now();
  // Decoded once, whole: a multi-byte character may be split across chunks (P7 is about that).
  const text = Buffer.concat(chunks).toString('utf8');
  return { status: res.statusCode, text, events: text.match(/^data: \{/gm)?.length ?? 0, headersAt, lastChunkAt, endedAt, error };
}

export function chat(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, messages: [{ role: 'user', content: 'hi' }], ...extra };
}

/** An admin call (POST /gateway/...) with the admin token. */
export function admin(base: string, path: string, method = 'POST'): Promise<Res> {
  return http(base, path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
}

/** Asserts the OpenAI error shape and returns the code. */
export function errorOf(res: Res): { code: string; type: string; message: string; param: unknown } {
  const e = res.json?.error;
  if (!e || typeof e !== 'object') throw new Error(`not an OpenAI error (status ${res.status}): ${res.text.slice(0, 300)}`);
  const keys = Object.keys(e).sort().join(',');
  if (keys !== 'code,message,param,type') throw new Error(`error keys are ${keys}`);
  return e;
}

// ---------------------------------------------------------------- standalone mocks

export interface Mock {
  child: ChildProcess;
  port: number;
  url: string;
  output: string[];
  received(): Promise<
    Array<{ requestId: string; method: string; path: string; headers: Record<string, string>; body: string; at: number }>
  >;
  aborted(): Promise<string[]>;
  stats(): Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  kill(): Promise<void>;
}

/** A free loopback port (closed again, so connecting to it is refused until something listens). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** SIGKILLs a child process and waits until it is gone (2 s at most). */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await Promise.race([gone, sleep(2000)]);
}

async function killMock(child: ChildProcess): Promise<void> {
  openMocks.delete(child);
  await killChild(child);
}

/** Helpers to read a mock's introspection routes at `url`. */
export function mockAt(url: string) {
  const get = async (p: string) => (await http(url, p)).json;
  return {
    received: () => get('/mock/received'),
    aborted: () => get('/mock/aborted') as Promise<string[]>,
    stats: () => get('/mock/stats'),
  };
}

/** Starts a standalone mock vLLM (for remote models) and waits until it listens. */
export async function spawnMock(args: Array<string | number> = [], port = 0, env?: Record<string, string>): Promise<Mock> {
  const child = spawn(process.execPath, [MOCK_VLLM, '--host', '127.0.0.1', '--port', String(port), ...args.map(String)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  openMocks.add(child);
  const output: string[] = [];
  const bound = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString();
      output.push(c.toString());
      const m = /Uvicorn running on http:\/\/[^:]+:(\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
    child.once('exit', (code) => reject(new Error(`mock exited with ${code}: ${output.join('')}`)));
  });
  const url = `http://127.0.0.1:${bound}`;
  return { child, port: bound, url, output, ...mockAt(url), kill: () => killMock(child) };
}

/** The mock behind a process model, through its endpoint in the status document. */
export async function mockOf(t: TestGateway, id: string) {
  const m = await t.model(id);
  if (!m.endpoint) throw new Error(`${id} has no endpoint (state ${m.state})`);
  return { endpoint: m.endpoint, ...mockAt(m.endpoint) };
}

/** Whether a process is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Counts are back to zero for every model. */
export async function allIdle(t: TestGateway): Promise<boolean> {
  const s = await t.status();
  return s.models.every((m) => m.inFlight === 0 && m.queued === 0);
}
