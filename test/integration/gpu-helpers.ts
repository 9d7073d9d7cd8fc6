// Helpers for the gateway-level GPU integration tests (test/integration/gpu-*.test.ts): a real
// gateway on port 0 whose GPU probe is the real nvidia-smi probe running the fake nvidia-smi
// (test/fixtures/fake-nvidia-smi.mjs), process models running the mock vLLM server with a
// simulated allocation (`--mock-vram-mib`), and "other" processes holding GPU memory.
//
// Isolation: every gateway gets its own FAKE_NVIDIA_SMI_SCOPE, set in the environment of the
// nvidia-smi its probe runs (a wrapper script of the gateway's own, see fakeNvidiaSmiWith) and
// in each model's `env`, so the fake only counts this gateway's processes, whatever other tests
// run beside it. The launchers the models run are files in test/fixtures/.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GatewayConfig } from '../../gateway/config/types.js';
import { createGateway, type Gateway } from '../../gateway/index.js';
import { runId } from '../lifecycle/run-marker.js';
import type { StartRequest } from '../../gateway/runtimes/runtime.js';
import type { ModelStatus, StatusDocument } from '../../gateway/status-types.js';
import {
  findModel,
  GPU_UTILIZATION_ARGS,
  InstanceTrackingRuntime,
  killChild,
  memoryLogger,
  MOCK_SERVE_ARGS,
  parseYaml as parseTestYaml,
  sleep,
  waitUntil,
} from './helpers.js';

export { alive, MOCK_VLLM, REPO_ROOT, sleep } from './helpers.js';

export const FAKE_NVIDIA_SMI = fileURLToPath(new URL('../fixtures/fake-nvidia-smi.mjs', import.meta.url));
export const ADMIN_TOKEN = 'gpu-test-admin-token-0123456789';
/** What the fake reports as memory.reserved on every GPU. */
export const FAKE_RESERVED_MIB = 616;

/** Polls `fn` until it returns a truthy value (or stops throwing); fails after `timeoutMs` (generous: each
 * fake nvidia-smi poll starts a Node process, slow on a loaded 2-core machine). */
export function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 20_000, everyMs = 25): Promise<NonNullable<T>> {
  return waitUntil(fn, timeoutMs, what, everyMs) as Promise<NonNullable<T>>;
}

/** The mock vLLM server as a process model's command, holding `mib` on the GPU the gateway gives it. */
export function mockCommand(mib: number, ...extra: Array<string | number>): string[] {
  return [
    process.execPath,
    ...MOCK_SERVE_ARGS,
    ...GPU_UTILIZATION_ARGS,
    '--mock-vram-mib',
    String(mib),
    '--mock-gpu-index',
    '${CUDA_VISIBLE_DEVICES}',
    ...extra.map(String),
  ];
}

const FIXTURES = new URL('../fixtures/', import.meta.url);
const fixture = (name: string) => fileURLToPath(new URL(name, FIXTURES));
/** test/fixtures/gpu-memory-holder.mjs: idles, "holding" the memory its flags declare. */
export const GPU_MEMORY_HOLDER = fixture('gpu-memory-holder.mjs');
/** test/fixtures/engine-launcher.mjs: a parent whose child holds the memory. */
export const ENGINE_LAUNCHER = fixture('engine-launcher.mjs');

/** A multi-GPU server (test/fixtures/tensor-parallel-launcher.mjs): the mock plus one worker process per further GPU. */
export function tensorParallelCommand(perGpuMib: number): string[] {
  return [
    process.execPath,
    fixture('tensor-parallel-launcher.mjs'),
    '--per-gpu-mib',
    String(perGpuMib),
    '--',
    process.execPath,
    ...MOCK_SERVE_ARGS,
    ...GPU_UTILIZATION_ARGS,
    '--mock-cuda-visible-devices',
    '${CUDA_VISIBLE_DEVICES}',
  ];
}

/** A server holding `mib` that exits `stopDelayMs` after SIGTERM (test/fixtures/slow-stop-launcher.mjs). */
export function slowStopCommand(mib: number, stopDelayMs: number): string[] {
  return [
    process.execPath,
    fixture('slow-stop-launcher.mjs'),
    '--stop-delay-ms',
    String(stopDelayMs),
    '--mock-vram-mib',
    String(mib),
    '--mock-gpu-index',
    '${CUDA_VISIBLE_DEVICES}',
    '--',
    process.execPath,
    ...MOCK_SERVE_ARGS,
  ];
}

export interface ModelSpec {
  vramGiB: number;
  command: string[];
  gpus?: 'auto' | number[];
  extra?: Record<string, unknown>;
}

export interface GpuTestOptions {
  /** FAKE_NVIDIA_SMI_GPUS, e.g. "Fake GPU:24576,Fake GPU:24576". */
  gpus?: string;
  models: Record<string, ModelSpec>;
  /** Extra environment for the fake (FAKE_NVIDIA_SMI_EXTRA, _RELEASE_DELAY_MS, _FAIL_FILE, ...). */
  fakeEnv?: Record<string, string>;
  /** Overrides of the `gpu` config section. */
  gpu?: Record<string, unknown>;
  queueTimeoutSeconds?: number;
}

/** Remembers every instance it started so cleanup can kill it whatever happened. */
export class RecordingRuntime extends InstanceTrackingRuntime {
  /** [model id, epoch ms] of each runtime.start() call. */
  readonly starts: Array<[string, number]> = [];
  protected override noteStart(req: StartRequest): void {
    this.starts.push([req.model.id, Date.now()]);
  }
}

export interface Res {
  status: number;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

export interface GpuGateway {
  gw: Gateway;
  url: string;
  scope: string;
  runtime: RecordingRuntime;
  logs: string[];
  status(): StatusDocument;
  model(id: string): ModelStatus;
  get(p: string): Promise<Res>;
  admin(p: string): Promise<Res>;
  chat(model: string, headers?: Record<string, string>): Promise<Res>;
  /** A process nobody manages holding `mib` on GPU `gpu` (in this gateway's scope). */
  other(mib: number, gpu?: number): Promise<ChildProcess>;
  close(): Promise<void>;
}

const open = new Set<GpuGateway>();
const others = new Set<ChildProcess>();

async function request(url: string, init: RequestInit = {}): Promise<Res> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

export function parseYaml(yaml: string): GatewayConfig {
  return parseTestYaml(yaml, '<gpu-test>');
}

/** Starts a gateway probing the fake nvidia-smi through `gpu.probe: nvidia-smi` (the config path). */
export async function startGpuGateway(opts: GpuTestOptions): Promise<GpuGateway> {
  const scope = fakeStateKey('gpu-it');
  const env: Record<string, string> = {
    FAKE_NVIDIA_SMI_SCOPE: scope,
    FAKE_NVIDIA_SMI_STATE: scope,
    ...(opts.gpus ? { FAKE_NVIDIA_SMI_GPUS: opts.gpus } : {}),
    ...opts.fakeEnv,
  };
  const nvidiaSmi = fakeNvidiaSmiWith(scope, env);
  const models: Record<string, unknown> = {};
  for (const [id, m] of Object.entries(opts.models)) {
    models[id] = {
      runtime: 'process',
      command: m.command,
      vramGiB: m.vramGiB,
      gpus: m.gpus ?? 'auto',
      env: { FAKE_NVIDIA_SMI_SCOPE: scope },
      ...m.extra,
    };
  }
  const config = parseYaml(
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      auth: { adminToken: ADMIN_TOKEN },
      limits: { queueTimeoutSeconds: opts.queueTimeoutSeconds ?? 8 },
      retry: { maxAttempts: 2, initialDelaySeconds: 0.05, backoff: 2 },
      timeouts: { connectSeconds: 2, firstByteSeconds: 10, idleSeconds: 10, startSeconds: 15 },
      shutdown: { drainSeconds: 1 },
      gpu: { probe: 'nvidia-smi', nvidiaSmiPath: nvidiaSmi.path, pollSeconds: 0.25, reserveGiB: 0.5, ...opts.gpu },
      models,
    }),
  );
  const logs: string[] = [];
  const runtime = new RecordingRuntime();
  const gw = await createGateway(config, { logger: memoryLogger(logs), runtimes: { process: runtime } });
  const url = await gw.listen();
  const mine = new Set<ChildProcess>();
  let closing: Promise<void> | null = null;
  const t: GpuGateway = {
    gw,
    url,
    scope,
    runtime,
    logs,
    status: () => gw.status(),
    model: (id) => findModel(gw, id),
    get: (p) => request(url + p),
    admin: (p) => request(url + p, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
    chat: (model, headers = {}) =>
      request(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      }),
    async other(mib, gpu = 0) {
      const c = await holder(scope, mib, gpu);
      mine.add(c);
      return c;
    },
    close() {
      closing ??= (async () => {
        open.delete(t);
        await Promise.race([gw.close(), sleep(8000)]).catch(() => {});
        await runtime.killAll();
        await Promise.all([...mine].map(kill));
        nvidiaSmi.remove();
        rmSync(fakeStateFile(scope), { force: true });
      })();
      return closing;
    },
  };
  open.add(t);
  return t;
}

/**
 * An `nvidia-smi` of this gateway's own: a shell script that runs the fake with `env` (its scope,
 * GPUs, failure switches), so the gateway's probe finds it through `gpu.nvidiaSmiPath` as it would
 * the real one, and no environment is shared with other gateways of the same test file.
 */
function fakeNvidiaSmiWith(scope: string, env: Record<string, string>): { path: string; remove: () => void } {
  const { dir, remove } = tempDir(`fake-nvidia-smi-${scope}-`);
  const file = path.join(dir, 'nvidia-smi');
  const quote = (v: string) => `'${v.replaceAll("'", `'\\''`)}'`;
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${quote(v)}`);
  writeFileSync(file, ['#!/bin/sh', ...exports, `exec ${quote(process.execPath)} ${quote(FAKE_NVIDIA_SMI)} "$@"`, ''].join('\n'));
  chmodSync(file, 0o755);
  return { path: file, remove };
}

/** Spawns a process holding `mib` on GPU `gpu` as the fake sees it (in `env`'s scope); `ready` resolves once it runs. */
export function spawnHolder(env: NodeJS.ProcessEnv, mib: number, gpu = 0): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, [GPU_MEMORY_HOLDER, '--mock-vram-mib', String(mib), '--mock-gpu-index', String(gpu)], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('error', reject);
  });
  return { child, ready };
}

/** A process holding `mib` on GPU `gpu` as the fake sees it; resolves once it runs. */
export async function holder(scope: string, mib: number, gpu = 0): Promise<ChildProcess> {
  const { child, ready } = spawnHolder({ ...process.env, FAKE_NVIDIA_SMI_SCOPE: scope }, mib, gpu);
  others.add(child);
  await ready;
  return child;
}

/** Kills a process and waits for it to be gone. */
export async function kill(c: ChildProcess): Promise<void> {
  others.delete(c);
  await killChild(c);
}

/** For afterEach: close every gateway still open, kill every "other" process. */
export async function cleanupGpuTests(): Promise<void> {
  await Promise.all([...open].map((g) => g.close()));
  await Promise.all([...others].map(kill));
}

/**
 * A FAKE_NVIDIA_SMI_STATE key of this test run (`<what>-<run id>-<uuid>`): the global teardown
 * (test/lifecycle/leak-check.global.ts) fails the run on a state file of its run left behind.
 */
export function fakeStateKey(what: string): string {
  return `${what}-${runId()}-${randomUUID()}`;
}

/** The state file the fake keeps for FAKE_NVIDIA_SMI_STATE=`key` (its naming). */
export function fakeStateFile(key: string): string {
  return path.join(tmpdir(), `fake-nvidia-smi-${key.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}

/** Pids of the fake nvidia-smi processes running in `scope` (Linux: read from /proc). */
export function fakeNvidiaSmiRunning(scope: string): number[] {
  const want = `FAKE_NVIDIA_SMI_SCOPE=${scope}`;
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/cmdline`, 'latin1').includes(FAKE_NVIDIA_SMI)) continue;
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(want)) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** A temporary folder, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The mock behind a model, through its endpoint in the status document. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mockStats(t: GpuGateway, id: string): Promise<Record<string, any>> {
  const m = t.model(id);
  if (!m.endpoint) throw new Error(`${id} has no endpoint (state ${m.state})`);
  return (await request(`${m.endpoint}/mock/stats`)).json;
}

/** The value after `flag` in an argv. */
export function flagIn(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** docs/configuration.md: vramGiB ÷ the GPU's total, rounded down to 2 decimals, at least 0.01. */
export function expectedUtilization(vramGiB: number, totalMiB: number): number {
  return Math.max(0.01, Math.floor(((vramGiB * 1024) / totalMiB) * 100) / 100);
}
