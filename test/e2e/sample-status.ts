// A canned status document shaped like a busy two-GPU workstation: one model of each state,
// a pinned embedding model, a remote model and recent requests. Used by the renderer's component
// tests and by the fake gateway that serves the dashboard for screenshots.
import type { GpuStatus, HistoryDocument, ModelStatus, RecentRequest, StatusDocument } from '../../gateway/status-types.js';

const GIB = 1024;

export function iso(msAgo: number, now = Date.now()): string {
  return new Date(now - msAgo).toISOString();
}

function model(partial: Partial<ModelStatus> & Pick<ModelStatus, 'id'>): ModelStatus {
  return {
    aliases: [],
    runtime: 'docker',
    state: 'stopped',
    sleepLevel: 0,
    inFlight: 0,
    queued: 0,
    maxConcurrent: 50,
    maxQueue: 200,
    vramBudgetMiB: null,
    vramUsedMiB: null,
    gpus: [],
    endpoint: null,
    lastUsedAt: null,
    stateSince: iso(3_600_000),
    pinned: false,
    ttlSeconds: 1800,
    error: null,
    progress: null,
    engine: null,
    yielding: false,
    ...partial,
  };
}

export const START_FAILURE = [
  'vLLM exited with code 1 while starting. Last lines of its output:',
  'INFO 11-27 12:00:41 [model_runner.py:1098] Loading model weights took 7.14 GiB',
  "ValueError: The model's max seq len (131072) is larger than the maximum number of tokens that can be",
  'stored in KV cache (65536). Try increasing `gpu_memory_utilization` or decreasing `max_model_len`.',
].join('\n');

export function sampleStatus(now = Date.now()): StatusDocument {
  const models: ModelStatus[] = [
    model({
      id: 'qwen2.5-7b-instruct',
      aliases: ['qwen', 'qwen-7b'],
      state: 'ready',
      inFlight: 3,
      vramBudgetMiB: 20 * GIB,
      vramUsedMiB: 19_800,
      gpus: [0],
      endpoint: 'http://127.0.0.1:49153',
      lastUsedAt: iso(4_000, now),
      stateSince: iso(2 * 3_600_000 + 14 * 60_000, now),
      engine: {
        running: 3,
        waiting: 0,
        kvCacheUsagePercent: 12.5,
        promptTokensPerSecond: 310,
        generationTokensPerSecond: 84.2,
        sleepState: 'awake',
      },
    }),
    model({
      id: 'llama-3.1-70b-instruct',
      aliases: ['llama'],
      state: 'ready',
      inFlight: 16,
      queued: 7,
      maxConcurrent: 16,
      maxQueue: 64,
      vramBudgetMiB: 90 * GIB,
      vramUsedMiB: 89_000,
      gpus: [1],
      endpoint: 'http://127.0.0.1:49160',
      lastUsedAt: iso(1_000, now),
      stateSince: iso(5 * 3_600_000, now),
      // Saturated: the engine holds requests back with its KV cache full.
      engine: {
        running: 16,
        waiting: 7,
        kvCacheUsagePercent: 97.8,
        promptTokensPerSecond: 1280,
        generationTokensPerSecond: 412.6,
        sleepState: 'awake',
      },
    }),
    model({
      id: 'mistral-small-24b',
      state: 'starting',
      vramBudgetMiB: 50 * GIB,
      vramUsedMiB: 30_100,
      gpus: [0],
      queued: 2,
      stateSince: iso(42_000, now),
      progress: {
        phase: 'loading',
        percent: null,
        message: 'Loading safetensors checkpoint shards: 3/5',
      },
    }),
    model({
      id: 'deepseek-r1-distill-32b',
      state: 'pulling',
      vramBudgetMiB: 64 * GIB,
      stateSince: iso(70_000, now),
      progress: {
        phase: 'pulling',
        percent: 63,
        message: 'vllm/vllm-openai:v0.11.0 · 6.1 of 9.7 GB',
      },
    }),
    model({
      id: 'phi-4-mini',
      state: 'failed',
      vramBudgetMiB: 12 * GIB,
      stateSince: iso(95_000, now),
      error: START_FAILURE,
    }),
    model({
      id: 'gemma-3-27b',
      aliases: ['gemma'],
      state: 'stopped',
      vramBudgetMiB: 60 * GIB,
      lastUsedAt: iso(3 * 3_600_000, now),
    }),
    model({
      id: 'bge-m3',
      runtime: 'process',
      state: 'ready',
      pinned: true,
      ttlSeconds: 0,
      vramBudgetMiB: 4 * GIB,
      vramUsedMiB: 3_900,
      gpus: [1],
      endpoint: 'http://127.0.0.1:49170',
      lastUsedAt: iso(64_000, now),
      stateSince: iso(26 * 3_600_000, now),
      engine: {
        running: 0,
        waiting: 0,
        kvCacheUsagePercent: 0,
        promptTokensPerSecond: 0,
        generationTokensPerSecond: 0,
        sleepState: 'awake',
      },
    }),
    model({
      id: 'gpt-oss-120b',
      runtime: 'remote',
      state: 'ready',
      endpoint: 'http://10.0.0.12:9000',
      lastUsedAt: iso(12 * 60_000, now),
      stateSince: iso(26 * 3_600_000, now),
    }),
  ];
  const gpus: GpuStatus[] = [
    {
      index: 0,
      name: 'NVIDIA H200',
      totalMiB: 143_771,
      usedMiB: 0,
      freeMiB: 0,
      reservedMiB: 616,
      models: [
        { id: 'qwen2.5-7b-instruct', usedMiB: 19_800 },
        { id: 'mistral-small-24b', usedMiB: 30_100 },
      ],
      otherMiB: 11_447,
      source: 'nvidia-smi',
      utilizationPercent: 37,
      temperatureC: 48,
      powerW: 212,
    },
    {
      index: 1,
      name: 'NVIDIA H200',
      totalMiB: 143_771,
      usedMiB: 0,
      freeMiB: 0,
      reservedMiB: 616,
      models: [
        { id: 'bge-m3', usedMiB: 3_900 },
        { id: 'llama-3.1-70b-instruct', usedMiB: 89_000 },
      ],
      otherMiB: 1_210,
      source: 'nvidia-smi',
      utilizationPercent: 91,
      temperatureC: 63,
      powerW: 540,
    },
  ];
  const doc: StatusDocument = {
    version: '0.1.0',
    startedAt: iso(26 * 3_600_000, now),
    listen: 'http://127.0.0.1:8080',
    models,
    gpus,
    limits: { maxQueuePerModel: 200, maxConcurrentPerModel: 50 },
    recentRequests: sampleRequests(now),
  };
  return recomputeGpus(doc);
}

/** Sets each GPU's used/free figures from its models and other processes. */
export function recomputeGpus(doc: StatusDocument): StatusDocument {
  for (const g of doc.gpus) {
    const models = g.models.reduce((n, m) => n + m.usedMiB, 0);
    g.usedMiB = models + g.otherMiB;
    g.freeMiB = Math.max(0, g.totalMiB - g.usedMiB - g.reservedMiB);
  }
  return doc;
}

export function sampleRequests(now = Date.now()): RecentRequest[] {
  // [model, path, status, stream, firstByteMs, durationMs, ago, completion tokens (null: no usage)]
  const rows: Array<[string, string, number, boolean, number | null, number | null, number, number | null]> = [
    ['llama-3.1-70b-instruct', '/v1/chat/completions', 200, true, 182, null, 900, null],
    ['qwen2.5-7b-instruct', '/v1/chat/completions', 200, true, 41, 2_310, 2_900, 196],
    ['bge-m3', '/v1/embeddings', 200, false, 18, 22, 4_000, 0],
    ['llama-3.1-70b-instruct', '/v1/chat/completions', 200, true, 240, 11_480, 6_100, 302],
    ['mistral-small-24b', '/v1/chat/completions', 0, true, null, null, 8_000, null],
    ['qwen2.5-7b-instruct', '/v1/completions', 200, false, 96, 1_040, 12_500, 88],
    ['phi-4-mini', '/v1/chat/completions', 503, false, null, 38_200, 95_000, null],
    ['llama-3.1-70b-instruct', '/v1/chat/completions', 429, false, null, 2, 101_000, null],
    ['gpt-oss-120b', '/v1/responses', 200, true, 512, 9_870, 140_000, 640],
    ['qwen2.5-7b-instruct', '/v1/chat/completions', 400, false, 12, 14, 190_000, null],
  ];
  return rows.map(([model, path, status, stream, firstByteMs, durationMs, ago, completionTokens], i) => ({
    id: `req_${(0x5f3a9c + i * 7919).toString(16)}${(0xbeef + i * 131).toString(16)}`,
    model,
    path,
    status,
    stream,
    startedAt: iso(ago, now),
    firstByteMs,
    durationMs,
    promptTokens: completionTokens === null ? null : 40 + i * 13,
    completionTokens,
    tokensPerSecond:
      completionTokens === null || !durationMs || completionTokens === 0 ? null : Math.round((completionTokens / durationMs) * 10_000) / 10,
  }));
}

/** Five minutes at 1 s of a workstation under load: tokens/s that rise and fall, VRAM that steps. */
export function sampleHistory(now = Date.now()): HistoryDocument {
  const n = 300;
  const at = Array.from({ length: n }, (_, i) => now - (n - 1 - i) * 1000);
  const wave = (i: number, period: number, phase: number) => (Math.sin((i / period) * 2 * Math.PI + phase) + 1) / 2;
  const qwen = at.map((_, i) => (i < 40 ? null : Math.round((40 + 60 * wave(i, 90, 0) + 8 * wave(i, 7, 1)) * 10) / 10));
  const llama = at.map((_, i) => Math.round((300 + 120 * wave(i, 140, 2) + 20 * wave(i, 11, 0)) * 10) / 10);
  const bge = at.map(() => 0);
  return {
    intervalSeconds: 1,
    windowSeconds: 300,
    at,
    gpus: [
      { index: 0, name: 'NVIDIA H200', totalMiB: 143_771, usedMiB: at.map((_, i) => (i < 40 ? 11_447 : i < 250 ? 31_247 : 61_347)) },
      { index: 1, name: 'NVIDIA H200', totalMiB: 143_771, usedMiB: at.map(() => 94_110) },
    ],
    models: [
      { id: 'qwen2.5-7b-instruct', generationTokensPerSecond: qwen },
      { id: 'llama-3.1-70b-instruct', generationTokensPerSecond: llama },
      { id: 'mistral-small-24b', generationTokensPerSecond: at.map(() => null) },
      { id: 'deepseek-r1-distill-32b', generationTokensPerSecond: at.map(() => null) },
      { id: 'phi-4-mini', generationTokensPerSecond: at.map(() => null) },
      { id: 'gemma-3-27b', generationTokensPerSecond: at.map(() => null) },
      { id: 'bge-m3', generationTokensPerSecond: bge },
      { id: 'gpt-oss-120b', generationTokensPerSecond: at.map(() => null) },
    ],
  };
}

/** The sample, spread over `local` and `gpu-a` (both with a GPU 0), and an unreachable `gpu-b`. */
export function hostsStatus(): StatusDocument {
  const doc = sampleStatus();
  const [g0, g1] = doc.gpus;
  doc.gpus = [
    { ...g0, host: 'local' },
    { ...g1, index: 0, host: 'gpu-a' },
  ];
  for (const m of doc.models) {
    if (m.gpus.length === 0) continue;
    m.host = m.gpus[0] === 1 ? 'gpu-a' : 'local';
    m.gpus = [0];
  }
  doc.hosts = [
    { name: 'local', docker: '/var/run/docker.sock', state: 'connected', error: null, gpus: [0] },
    { name: 'gpu-a', docker: 'ssh://root@10.0.0.5', state: 'connected', error: null, gpus: [0] },
    {
      name: 'gpu-b',
      docker: 'ssh://root@10.0.0.6',
      state: 'unreachable',
      error: 'nothing accepts ssh connections on root@10.0.0.6',
      gpus: [],
    },
  ];
  return doc;
}
