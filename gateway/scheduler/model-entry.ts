// One configured model's live state. The scheduler is the only writer; everything else reads
// through `toStatus()`. Transitions go through `setState`, which stamps `stateSince` and notifies.

import type { ModelConfig } from '../config/types.js';
import type { ModelProgress, ModelState, ModelStatus } from '../status-types.js';
import type { Instance } from '../runtimes/runtime.js';
import { ModelQueue } from './model-queue.js';

/** Cool-down after failed starts: 10 s, doubling, at most 5 min (ARCHITECTURE "Failed starts"). */
export function coolDownMs(consecutiveFailures: number): number {
  return Math.min(300_000, 10_000 * 2 ** Math.max(0, consecutiveFailures - 1));
}

export class ModelEntry {
  state: ModelState;
  stateSince: number;
  error: string | null = null;
  progress: ModelProgress | null = null;
  instance: Instance | null = null;
  /** The last instance, kept for its logs after it is gone. */
  lastInstance: Instance | null = null;
  gpuIndices: number[] = [];
  lastUsedAt: number | null = null;
  readyAt = 0;
  failures = 0;
  coolDownUntil = 0;
  /** Shared by all callers while a start is under way (P15). */
  startPromise: Promise<void> | null = null;
  startAbort: AbortController | null = null;
  stopPromise: Promise<void> | null = null;
  /** While its start waits for other models to free GPU memory: why (for insufficient_vram). */
  vramWait: string | null = null;
  /** load() and preload calls waiting for the current start (requests wait in the queue instead). */
  explicitStarts = 0;
  idleTimer: NodeJS.Timeout | null = null;
  /**
   * The last request's keep_alive (Ollama routes), in seconds: it replaces ttlSeconds from the end
   * of that request until the next one ends. Infinity = keep loaded; null = ttlSeconds.
   */
  keepAliveSeconds: number | null = null;
  /** Host PIDs of the server, refreshed with each GPU reading, for VRAM attribution. */
  pids = new Set<number>();
  readonly queue: ModelQueue;

  constructor(
    readonly config: ModelConfig,
    private readonly notify: () => void,
    now: number,
  ) {
    this.state = config.runtime === 'remote' ? 'ready' : 'stopped';
    this.stateSince = now;
    this.queue = new ModelQueue({ maxQueue: config.maxQueue, maxConcurrent: config.maxConcurrent }, notify);
  }

  get id(): string {
    return this.config.id;
  }

  get budgetMiB(): number {
    return this.config.runtime === 'remote' ? 0 : Math.round(this.config.vramGiB * 1024);
  }

  /** Holds GPU memory (or is about to). */
  get holdsGpu(): boolean {
    return (
      this.config.runtime !== 'remote' && this.gpuIndices.length > 0 && ['pulling', 'starting', 'ready', 'stopping'].includes(this.state)
    );
  }

  /** For LRU: the last request's end, or when it became ready if never used since. */
  get lastActivity(): number {
    return Math.max(this.lastUsedAt ?? 0, this.readyAt);
  }

  /** Idle seconds before the model is stopped; Infinity = never (pinned, remote, ttlSeconds 0, keep_alive < 0). */
  get idleTtlSeconds(): number {
    const c = this.config;
    if (c.pinned || c.runtime === 'remote') return Infinity; // a pinned model ignores keep_alive, 0 included
    if (this.keepAliveSeconds !== null) return this.keepAliveSeconds;
    return c.ttlSeconds > 0 ? c.ttlSeconds : Infinity;
  }

  /** When the model will be stopped for idleness if nothing comes (epoch ms); null while busy, not ready, or never. */
  get idleDeadline(): number | null {
    const ttl = this.idleTtlSeconds;
    if (ttl === Infinity || this.state !== 'ready' || this.queue.busy) return null;
    return this.lastActivity + ttl * 1000;
  }

  setState(state: ModelState, now: number, extra: { error?: string | null; progress?: ModelProgress | null } = {}): void {
    if (state !== this.state) {
      this.state = state;
      this.stateSince = now;
    }
    if ('error' in extra) this.error = extra.error ?? null;
    this.progress = extra.progress !== undefined ? extra.progress : state === 'pulling' || state === 'starting' ? this.progress : null;
    this.notify();
  }

  toStatus(): ModelStatus {
    const c = this.config;
    return {
      id: c.id,
      aliases: [...c.aliases],
      runtime: c.runtime,
      state: this.state,
      inFlight: this.queue.inFlight.size,
      queued: this.queue.waiting.size,
      maxConcurrent: c.maxConcurrent,
      maxQueue: c.maxQueue,
      vramBudgetMiB: c.runtime === 'remote' ? null : this.budgetMiB,
      vramUsedMiB: null, // filled by buildStatus from the GPU reading (gateway/status.ts)
      gpus: [...this.gpuIndices],
      endpoint: c.runtime === 'remote' ? c.url : (this.instance?.endpoint ?? null),
      lastUsedAt: this.lastUsedAt === null ? null : new Date(this.lastUsedAt).toISOString(),
      stateSince: new Date(this.stateSince).toISOString(),
      pinned: c.pinned,
      ttlSeconds: c.ttlSeconds,
      keepAliveSeconds: this.keepAliveSeconds === null ? null : Number.isFinite(this.keepAliveSeconds) ? this.keepAliveSeconds : -1,
      idleDeadline: this.idleDeadline === null ? null : new Date(this.idleDeadline).toISOString(),
      error: this.error,
      progress: this.progress,
      engine: null, // filled by buildStatus from the engine scraper (gateway/engine/)
    };
  }
}
