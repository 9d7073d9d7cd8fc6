// Helpers for the gateway-level Docker tests: the real gateway (createGateway, or the CLI as a
// child process) with `runtime: docker` models running the mock vLLM image, on a static GPU,
// `pull: never`, no GPU requests, and a container prefix of the test file's own.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parseConfigText } from '../../gateway/config/load-config.js';
import type { GatewayConfig } from '../../gateway/config/types.js';
import { createGateway, type Gateway } from '../../gateway/index.js';
import type { StatusDocument } from '../../gateway/status-types.js';
import { ADMIN_TOKEN, findModel, REPO_ROOT, http, type Res } from '../integration/helpers.js';
import { MOCK_IMAGE } from './helpers.js';

export { ADMIN_TOKEN };

export const HF_CACHE_DIR = path.join(os.tmpdir(), 'vllm-gw-test-hf-cache');

export interface DockerModelYaml {
  args?: string[];
  env?: Record<string, string>;
  vramGiB?: number;
  ttlSeconds?: number;
  image?: string;
  /** Extra YAML flow-mapping entries, e.g. `pinned: true`. */
  extra?: string;
}

/** A gateway config (YAML) with docker models on one static 24 GiB GPU (0.5 GiB reserved). */
export function dockerYaml(
  prefix: string,
  models: Record<string, DockerModelYaml>,
  over: { docker?: string; limits?: string; timeouts?: string } = {},
): string {
  const lines = Object.entries(models).map(([id, m]) => {
    const parts = [
      'runtime: docker',
      `image: ${JSON.stringify(m.image ?? MOCK_IMAGE)}`,
      'model: facebook/opt-125m',
      `vramGiB: ${m.vramGiB ?? 4}`,
      `ttlSeconds: ${m.ttlSeconds ?? 0}`,
      `args: ${JSON.stringify(m.args ?? [])}`,
      `env: ${JSON.stringify(m.env ?? {})}`,
      ...(m.extra ? [m.extra] : []),
    ];
    return `  ${JSON.stringify(id)}: { ${parts.join(', ')} }`;
  });
  return `
listen: { host: 127.0.0.1, port: 0 }
auth: { adminToken: ${ADMIN_TOKEN} }
limits: ${over.limits ?? '{ queueTimeoutSeconds: 30 }'}
retry: { maxAttempts: 3, initialDelaySeconds: 0.05, backoff: 2 }
timeouts: ${over.timeouts ?? '{ connectSeconds: 2, firstByteSeconds: 15, idleSeconds: 15, startSeconds: 20 }'}
shutdown: { drainSeconds: 1 }
gpu: { probe: static, reserveGiB: 0.5, static: [{ name: "Test GPU", totalGiB: 24 }] }
docker: { containerPrefix: ${prefix}, pull: never, gpuRequests: false, hfCacheDir: ${JSON.stringify(HF_CACHE_DIR)}${over.docker ? `, ${over.docker}` : ''} }
models:
${lines.join('\n')}
`;
}

/** The environment config loading sees: HOME, and DOCKER_HOST only when `withDockerHost` and set. */
export function configEnv(withDockerHost = true): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { HOME: process.env.HOME ?? '/tmp' };
  if (withDockerHost && process.env.DOCKER_HOST) env.DOCKER_HOST = process.env.DOCKER_HOST;
  return env;
}

export function parseDockerYaml(yaml: string, env: NodeJS.ProcessEnv = configEnv()): GatewayConfig {
  const { config, issues } = parseConfigText(yaml, '<docker-test>', env);
  if (!config) throw new Error(`bad test config:\n${issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`);
  return config;
}

export interface LogLine {
  time: number;
  msg?: string;
  model?: string;
  [k: string]: unknown;
}

export interface DockerGateway {
  gw: Gateway;
  url: string;
  logs: LogLine[];
  /** Every state a model went through, with the time it was seen (scheduler 'change' events). */
  transitions: Array<{ id: string; state: string; at: number }>;
  model(id: string): StatusDocument['models'][number];
  close(): Promise<void>;
}

const open = new Set<DockerGateway>();

/** The real gateway in this process, its Docker runtime built from the config, logs captured. */
export async function startDockerGateway(
  yaml: string,
  env: NodeJS.ProcessEnv = configEnv(),
  opts: Pick<Parameters<typeof createGateway>[1] & object, 'registerUi'> = {},
): Promise<DockerGateway> {
  const config = parseDockerYaml(yaml, env);
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line.trim()) continue;
        try {
          logs.push(JSON.parse(line) as LogLine);
        } catch {
          /* not JSON */
        }
      }
      cb();
    },
  });
  const logger = pino({ level: 'debug', base: undefined, timestamp: () => `,"time":${Date.now()}` }, sink);
  const gw = await createGateway(config, { logger, registerUi: opts.registerUi });
  const transitions: DockerGateway['transitions'] = [];
  const last = new Map<string, string>();
  gw.scheduler.on('change', () => {
    for (const e of gw.scheduler.entries.values()) {
      if (last.get(e.id) !== e.state) {
        last.set(e.id, e.state);
        transitions.push({ id: e.id, state: e.state, at: Date.now() });
      }
    }
  });
  const url = await gw.listen();
  let closing: Promise<void> | null = null;
  const t: DockerGateway = {
    gw,
    url,
    logs,
    transitions,
    model: (id) => findModel(gw, id),
    close() {
      closing ??= (async () => {
        open.delete(t);
        await Promise.race([gw.close(), new Promise((r) => setTimeout(r, 15_000))]).catch(() => {});
      })();
      return closing;
    },
  };
  open.add(t);
  return t;
}

export async function closeAllGateways(): Promise<void> {
  await Promise.all([...open].map((g) => g.close()));
}

// ---------------------------------------------------------------- the CLI as a child process

export interface ChildGateway {
  child: ChildProcess;
  url: string;
  output: string[];
  /** When `listening on` was printed (ms since epoch). */
  listeningAt: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const children = new Set<ChildProcess>();
const tmpDirs: string[] = [];

/** Writes `yaml` to a file in a fresh temporary directory; returns its path. */
export function writeConfig(yaml: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vllm-gw-docker-cli-'));
  tmpDirs.push(dir);
  const file = path.join(dir, 'gateway.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** `node gateway/bin.mjs serve --config FILE` (dist must be built); resolves once it prints `listening on`. */
export async function spawnGateway(configFile: string, timeoutMs = 30_000): Promise<ChildGateway> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'gateway/bin.mjs'), 'serve', '--config', configFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const output: string[] = [];
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
    children.delete(child);
  };
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`gateway did not listen within ${timeoutMs} ms:\n${output.join('')}`)), timeoutMs);
    const onData = (c: Buffer) => {
      output.push(c.toString());
      buf += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code ?? sig}) before listening:\n${output.join('')}`));
    });
  }).catch(async (err: unknown) => {
    await kill();
    throw err;
  });
  return { child, url, output, listeningAt: Date.now(), kill };
}

export async function killAllChildren(): Promise<void> {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  children.clear();
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

// ---------------------------------------------------------------- requests

export function adminPost(base: string, p: string): Promise<Res> {
  return http(base, p, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
}

export interface ChatStream {
  status: number;
  headers: Headers;
  /** Request sent → response headers (the first byte), ms. */
  firstByteMs: number;
  /** Reads the next chunk as text; null at the end. Throws when the connection fails. */
  next(): Promise<string | null>;
  /** Reads to the end: the text read, whether it ended in an error, whether `[DONE]` came. */
  rest(): Promise<{ text: string; error: string | null; done: boolean }>;
}

/** A streamed chat completion through `base` (the gateway), read chunk by chunk. */
export async function chatStream(base: string, model: string, headers: Record<string, string> = {}): Promise<ChatStream> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hello' }] }),
  });
  const firstByteMs = performance.now() - t0;
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let seen = '';
  const next = async () => {
    const { done, value } = await reader.read();
    if (done) return null;
    const s = dec.decode(value, { stream: true });
    seen += s;
    return s;
  };
  return {
    status: res.status,
    headers: res.headers,
    firstByteMs,
    next,
    async rest() {
      let error: string | null = null;
      try {
        while ((await next()) !== null) {
          /* keep reading */
        }
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } };
        error = e.cause?.code ?? e.cause?.message ?? e.message;
      }
      return { text: seen, error, done: seen.includes('data: [DONE]') };
    },
  };
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
