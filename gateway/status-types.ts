// The status document (docs/status.md): served at GET /gateway/status, sent over SSE and IPC.
// Pure types only: the renderer imports this file, so it must never import Node modules.

export type ModelState = 'stopped' | 'pulling' | 'starting' | 'ready' | 'sleeping' | 'waking' | 'stopping' | 'failed';
export type RuntimeKind = 'docker' | 'process' | 'remote';

export interface ModelProgress {
  phase: 'pulling' | 'loading';
  percent: number | null;
  message: string;
}

/**
 * What a model's own server reports on its `/metrics` (vLLM's families), docs/status.md `engine`.
 * Rates are over the last poll interval (null until two readings exist); a figure whose family
 * the server does not export is null.
 */
export interface EngineStatus {
  running: number | null;
  waiting: number | null;
  kvCacheUsagePercent: number | null;
  promptTokensPerSecond: number | null;
  generationTokensPerSecond: number | null;
  /** vLLM's `sleep_state` label: awake, weights_offloaded (level 1), discard_all (level 2). */
  sleepState: EngineSleepState | null;
}

export type EngineSleepState = 'awake' | 'weights_offloaded' | 'discard_all';

export interface ModelStatus {
  id: string;
  aliases: string[];
  runtime: RuntimeKind;
  state: ModelState;
  /** The configured `sleep.level` (0 = sleep off; remote models 0). */
  sleepLevel: number;
  /** Extension: host RAM the model holds while asleep (its weights at level 1); null when not asleep. */
  sleepHostRamMiB?: number | null;
  inFlight: number;
  queued: number;
  /** Extension: `queued` by class (docs/scheduling.md "Priority lanes"); interactive ones are admitted first. */
  queuedByPriority?: { interactive: number; batch: number };
  maxConcurrent: number;
  maxQueue: number;
  vramBudgetMiB: number | null;
  vramUsedMiB: number | null;
  gpus: number[];
  endpoint: string | null;
  lastUsedAt: string | null;
  stateSince: string;
  pinned: boolean;
  ttlSeconds: number;
  /** Extension: the keep_alive of the model's last request (Ollama routes) in force instead of ttlSeconds; -1 = keep loaded; null = none. */
  keepAliveSeconds?: number | null;
  /** Extension: when the model will be stopped for idleness if no request comes; null while busy, not ready, or never. */
  idleDeadline?: string | null;
  error: string | null;
  progress: ModelProgress | null;
  /** Null when the server is not running, not scraped, or reports nothing usable. */
  engine: EngineStatus | null;
  /** True while it takes no new requests so that a waiting model can have its memory. */
  yielding: boolean;
  /** Extension: the model it yields to, while `yielding`. */
  yieldingTo?: string | null;
  /** Extension: while its start waits for GPU memory: since when, why, and who holds it. */
  waitingForMemory?: MemoryWaitStatus | null;
  /**
   * With remote hosts (docs/hosts.md): the host it runs on (or last ran on, or is placed on); null
   * when it holds no GPU. `gpus` are then indices on that host.
   */
  host?: string | null;
}

/** With remote hosts (docs/hosts.md): each host's engine connection, `local` first. */
export interface HostStatus {
  name: string;
  /** Where its engine is: `ssh://root@10.0.0.5`, `tcp://10.0.0.6:2376`, this machine's socket. */
  docker: string;
  state: 'connected' | 'connecting' | 'unreachable';
  /** Why it is not connected, phrased for a user; null when connected. */
  error: string | null;
  /** Its GPU indices (on that host) as last measured; [] while unreachable. */
  gpus: number[];
}

export interface MemoryWaitStatus {
  /** When the wait began (ISO time). */
  since: string;
  reason: string;
  /** The models whose memory it waits for (busy, yielding, stopping, or ahead of it in line). */
  blockedBy: string[];
}

export interface GpuStatus {
  index: number;
  name: string;
  totalMiB: number;
  usedMiB: number;
  freeMiB: number;
  reservedMiB: number;
  models: Array<{ id: string; usedMiB: number }>;
  otherMiB: number;
  /** Extension: where the figures come from ("nvidia-smi" measures, "static" assumes budgets). */
  source?: 'nvidia-smi' | 'static' | 'systeminformation';
  utilizationPercent?: number | null;
  temperatureC?: number | null;
  powerW?: number | null;
  /** With remote hosts (docs/hosts.md): the host it is on; `index` is then its index on that host. */
  host?: string;
}

/** Extension: the last requests seen, newest first (no prompts, no bodies). */
export interface RecentRequest {
  id: string;
  model: string;
  path: string;
  status: number;
  stream: boolean;
  startedAt: string;
  /**
   * ms from the request's arrival to its response's first byte (headers): as the client saw it,
   * queueing, a cold start and retries included. null until the response begins.
   */
  firstByteMs: number | null;
  /** ms from forwarding (the attempt that answered) to the model server's first byte. */
  upstreamFirstByteMs?: number | null;
  /** null while the request is in progress (status 0 until its response begins). */
  durationMs: number | null;
  /** From the response's `usage` object, when it carried one (null otherwise). */
  promptTokens?: number | null;
  completionTokens?: number | null;
  /** completionTokens over the time from forwarding to the response's end (queueing excluded). */
  tokensPerSecond?: number | null;
  /** Its class (priority lanes); null when it was refused before it had one (a bad X-Priority). */
  priority?: 'interactive' | 'batch' | null;
}

export interface StatusDocument {
  /** Extension: the config file this gateway loaded (absolute), null for one given inline. */
  configPath?: string | null;
  version: string;
  startedAt: string;
  listen: string;
  models: ModelStatus[];
  gpus: GpuStatus[];
  limits: { maxQueuePerModel: number; maxConcurrentPerModel: number };
  /** Extensions beyond the contract's minimum; clients must tolerate their absence. */
  gpuProbe?: {
    kind: 'nvidia-smi' | 'static' | 'systeminformation' | 'none';
    available: boolean;
    error: string | null;
    ageMs: number | null;
    pollMs: number | null;
  };
  host?: { hostname: string; platform: string; cpus: number; cpuModel: string; memTotalMiB: number; memFreeMiB: number } | null;
  recentRequests?: RecentRequest[];
  /** Present when remote hosts are configured (docs/hosts.md). */
  hosts?: HostStatus[];
}

/**
 * GET /gateway/history (IPC `history`): the last minutes at the poll interval, oldest first.
 * `at` holds the sample times (epoch ms); every series has one value per entry of `at`.
 */
export interface HistoryDocument {
  intervalSeconds: number;
  windowSeconds: number;
  at: number[];
  /** `label`: with remote hosts ("gpu-a GPU 0"); `index` is then host-qualified, a key only. */
  gpus: Array<{ index: number; name: string; totalMiB: number; usedMiB: Array<number | null>; label?: string }>;
  models: Array<{ id: string; generationTokensPerSecond: Array<number | null> }>;
}
