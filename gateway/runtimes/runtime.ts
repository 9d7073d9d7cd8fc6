// What the lifecycle needs from something that runs a model server (docs/architecture.md rule 1).
// Implementations: process-runtime.ts (child processes), docker-runtime.ts (dockerode).
// Remote models have no runtime: they are routed to, never started.

import type { LocalModelConfig } from '../config/types.js';
import type { ModelProgress } from '../status-types.js';
import type { SleepCallOptions, SleepLevel } from './vllm-sleep.js';

export type { GatewayLogger as RuntimeLogger } from '../logger.js';

export interface StartRequest {
  model: LocalModelConfig;
  /** GPU indices chosen by placement. */
  gpuIndices: number[];
  /** vramGiB ÷ the GPU's total memory, floored to 2 decimals, at least 0.01 (docs/configuration.md). */
  gpuMemoryUtilization: number;
  /** Aborted when the start must be abandoned (unload, shutdown, start timeout). */
  signal: AbortSignal;
  /** Called when the runtime enters a phase worth showing ("pulling" an image, "starting" the server). */
  onPhase(phase: 'pulling' | 'starting'): void;
  /** Pull or load progress for the status document. */
  onProgress(progress: ModelProgress): void;
}

export interface ExitInfo {
  /** Exit code if known. */
  code: number | null;
  signal: string | null;
  oomKilled: boolean;
  /** Human-readable reason, e.g. "exited with code 1" or "killed (OOM)". */
  reason: string;
  /** True when the gateway asked it to stop (so not a crash). */
  requested: boolean;
}

/** A model server that exists (process spawned / container started) with a known endpoint. */
export interface Instance {
  /** Base URL, e.g. http://127.0.0.1:49153 (no trailing slash). */
  readonly endpoint: string;
  /** Settles once, when the server is gone for whatever reason. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /**
   * The host GPU indices the server was given (for an adopted one, as recorded when it was
   * started); null or absent when unknown. Adoption books the model there.
   */
  readonly gpuIndices?: readonly number[] | null;
  /** Ask it to stop: graceful (SIGTERM / docker stop) for graceMs, then forced; removes containers. Idempotent. */
  stop(graceMs: number): Promise<void>;
  /** The last `tail` lines of the server's output (stdout and stderr merged). */
  logs(tail: number): Promise<string>;
  /** Host PIDs of the server and its descendants, for attributing GPU memory. */
  pids(): Promise<number[]>;
  /** vLLM sleep mode (vllm-sleep.ts): sleep at `level`, confirmed by /is_sleeping. Only with nothing in flight. */
  sleep(level: SleepLevel, opts: SleepCallOptions): Promise<void>;
  /** Wake from `level` (level 2: the reload sequence), confirmed by /is_sleeping. */
  wake(level: SleepLevel, opts: SleepCallOptions): Promise<void>;
  /** The level a server found running sleeps at; null when awake or it cannot say (adoption). */
  sleepingLevel(configured: SleepLevel, timeoutMs: number): Promise<SleepLevel | null>;
}

/** A configured model as reconcile() needs it: where placement would put it, and its utilization. */
export interface ReconcileModel {
  model: LocalModelConfig;
  gpuIndices: number[];
  gpuMemoryUtilization: number;
  /**
   * The memory share the model gets on these GPUs: a `gpus: auto` server found on other GPUs than
   * `gpuIndices` (which guess the first) was started with the share of the GPUs it runs on.
   */
  utilizationOn?(gpuIndices: readonly number[]): number;
}

/**
 * The memory share a server found running was started with, for comparing its config hash: on the
 * GPUs it says it was given (its record, its container label), else where a fresh start would go.
 */
export function utilizationOfFound(m: ReconcileModel, gpuIndices: readonly number[] | null | undefined): number {
  return gpuIndices && gpuIndices.length > 0 && m.utilizationOn ? m.utilizationOn(gpuIndices) : m.gpuMemoryUtilization;
}

export interface RuntimeHealth {
  ok: boolean;
  /** Why not, phrased for a user: e.g. "Docker is not running: start it with `sudo systemctl start docker`". */
  reason: string | null;
}

export interface Runtime {
  readonly kind: 'docker' | 'process';
  /**
   * Creates and starts the server; resolves once it exists and its endpoint is known (NOT once it is
   * healthy: the lifecycle polls the health path). Rejects with GatewayError('model_start_failed')
   * carrying the reason and, where there is one, the last lines of output.
   */
  start(req: StartRequest): Promise<Instance>;
  /** Whether the runtime can start models right now (for GET /ready). */
  health(): Promise<RuntimeHealth>;
  /**
   * Called once at gateway start, before /ready first answers 200: adopt running servers of
   * these models whose identity matches, remove the runtime's other managed leftovers (P14).
   */
  reconcile?(models: ReconcileModel[]): Promise<Map<string, Instance>>;
  /** Release resources (event streams, sockets). Does not stop instances. */
  close?(): Promise<void>;
}
