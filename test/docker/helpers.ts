// Shared pieces of the Docker-engine tests.
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';
import type { DockerModelConfig, GatewayConfig } from '../../gateway/config/types.js';
import type { StartRequest } from '../../gateway/runtimes/runtime.js';
import type { ModelProgress } from '../../gateway/status-types.js';
import { testContainerPrefix } from '../lifecycle/run-marker.js';

export const MOCK_IMAGE = process.env.VLLM_GW_MOCK_IMAGE ?? 'vllm-gw-mock:test';

/** A container prefix of one test's own, under this run's (so the global teardown finds leftovers). */
export function uniquePrefix(tag: string): string {
  return `${testContainerPrefix()}-${tag}-${randomBytes(3).toString('hex')}`;
}

export function dockerConfig(prefix: string, over: Partial<GatewayConfig['docker']> = {}): GatewayConfig['docker'] {
  return {
    socketPath: '/var/run/docker.sock',
    dockerHost: process.env.DOCKER_HOST ?? null,
    containerPrefix: prefix,
    pull: 'never',
    hfCacheDir: path.join(os.tmpdir(), 'vllm-gw-test-hf-cache'),
    gpuRequests: false, // no GPU (nor NVIDIA toolkit) on the test machines
    ...over,
  };
}

export function mockModel(id: string, over: Partial<DockerModelConfig> = {}): DockerModelConfig {
  return {
    id,
    runtime: 'docker',
    image: MOCK_IMAGE,
    model: 'facebook/opt-125m',
    vramGiB: 2,
    gpus: 'auto',
    args: [],
    env: {},
    aliases: [],
    maxConcurrent: 4,
    maxQueue: 10,
    ttlSeconds: 0,
    pinned: false,
    preload: false,
    healthPath: '/health',
    ...over,
  };
}

export interface RecordedRequest extends StartRequest {
  phases: string[];
  progress: ModelProgress[];
  controller: AbortController;
}

export function startRequest(model: DockerModelConfig, over: { gpuIndices?: number[]; util?: number } = {}): RecordedRequest {
  const controller = new AbortController();
  const phases: string[] = [];
  const progress: ModelProgress[] = [];
  return {
    model,
    gpuIndices: over.gpuIndices ?? [0],
    gpuMemoryUtilization: over.util ?? 0.5,
    signal: controller.signal,
    onPhase: (p) => phases.push(p),
    onProgress: (p) => progress.push(p),
    phases,
    progress,
    controller,
  };
}

export async function waitHealthy(endpoint: string, timeoutMs = 15_000, healthPath = '/health'): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      const res = await fetch(endpoint + healthPath, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return Date.now() - started;
    } catch {
      /* not yet */
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${endpoint}${healthPath} not healthy within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10_000,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function containersOfPrefix(docker: Dockerode, prefix: string): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`vllm-gateway.prefix=${prefix}`] } });
}

export async function removePrefix(docker: Dockerode, prefix: string): Promise<void> {
  for (const c of await containersOfPrefix(docker, prefix).catch(() => [])) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}

export async function exists(docker: Dockerode, idOrName: string): Promise<boolean> {
  try {
    await docker.getContainer(idOrName).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

/** Resolves with `p`'s value, or 'pending' when it has not settled within `ms`. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'pending'>((r) => (timer = setTimeout(() => r('pending'), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export async function streamChat(
  endpoint: string,
  model: string,
): Promise<{ status: number; chunks: number; text: string; done: boolean }> {
  const res = await fetch(`${endpoint}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hello' }] }),
  });
  const raw = await res.text();
  let text = '';
  let chunks = 0;
  let done = false;
  for (const line of raw.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    const data = line.slice(6).trim();
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    chunks++;
    const parsed = JSON.parse(data) as { choices?: Array<{ delta?: { content?: string } }> };
    text += parsed.choices?.[0]?.delta?.content ?? '';
  }
  return { status: res.status, chunks, text, done };
}
