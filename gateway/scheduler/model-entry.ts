// One configured model's live state: its lifecycle (lifecycle.ts, changed only through apply(),
// which the coordinator alone calls), its admission queue, and what its idle stop reads. Every
// change notifies.

import { sleepHostRamMiB, sleepLevel } from '../config/sleep-config.js';
import type { ModelConfig } from '../config/types.js';
import type { ModelProgress, ModelState, ModelStatus } from '../status-types.js';
import type { Instance } from '../runtimes/runtime.js';
import { idleStopAt, idleTtlSeconds, type IdleFacts } from './idle-policy.js';
import {
  IllegalEvent,
  initialLifecycle,
  publicState,
  reduce,
  type Lifecycle,
  type LifecycleEffect,
  type LifecycleEvent,
  type MemoryWait,
  type Phase,
} from './lifecycle.js';
import { ModelQueue } from './model-queue.js';
import type { ByPriority, Priority } from './priority.js';

export { coolDownMs, type MemoryWait } from './lifecycle.js';

export class ModelEntry {
  private lc: Lifecycle;
  private _lastUsedAt: number | null = null;
  private _keepAliveSeconds: number | null = null;
  private _explicitStarts: ByPriority<number> = { interactive: 0, batch: 0 };
  readonly queue: ModelQueue;

  constructor(
    readonly config: ModelConfig,
    private readonly notify: () => void,
    now: number,
    clock: () => number = Date.now,
  ) {
    this.lc = initialLifecycle(now, config.runtime === 'remote' ? 'ready' : 'stopped');
    this.queue = new ModelQueue({ maxConcurrent: config.maxConcurrent }, notify, clock);
  }

  /**
   * Apply a lifecycle event (lifecycle.ts reduce) and notify when anything changed; returns the
   * effects for the caller to carry out. Only the coordinator (scheduler.ts) calls this. A remote
   * model has no lifecycle: any event is a bug.
   */
  apply(event: LifecycleEvent, now: number): LifecycleEffect[] {
    if (this.config.runtime === 'remote') throw new IllegalEvent(this.id, event.type, this.lc.phase);
    const { state, effects } = reduce(this.lc, event, now, this.id);
    if (state !== this.lc) {
      // A new server starts from ttlSeconds, as Ollama's load() starts from OLLAMA_KEEP_ALIVE when
      // the request that loads it has no keep_alive (server/sched.go): a gone server's is forgotten.
      if (this.lc.instance !== null && state.instance === null) this._keepAliveSeconds = null;
      this.lc = state;
      this.notify();
    }
    return effects;
  }

  /** The last request ended at `now` (for LRU and the idle stop). */
  noteUsed(now: number): void {
    this._lastUsedAt = now;
  }

  /** The last request's keep_alive; false when it did not change. */
  keepAlive(seconds: number | null): boolean {
    if (this._keepAliveSeconds === seconds) return false;
    this._keepAliveSeconds = seconds;
    return true;
  }

  /** A load() or preload of this class begins (+1) or ends (-1) waiting for this model's start. */
  countExplicitStart(delta: 1 | -1, priority: Priority): void {
    this._explicitStarts[priority] += delta;
  }

  get id(): string {
    return this.config.id;
  }
  /** The lifecycle's own phase (finer than `state`: yielding, fallingAsleep, wakeBooked). */
  get phase(): Phase {
    return this.lc.phase;
  }
  get lifecycle(): Lifecycle {
    return this.lc;
  }
  get state(): ModelState {
    return publicState(this.lc.phase);
  }
  get stateSince(): number {
    return this.lc.since;
  }
  get error(): string | null {
    return this.lc.error;
  }
  get progress(): ModelProgress | null {
    return this.lc.progress;
  }
  get instance(): Instance | null {
    return this.lc.instance;
  }
  /** The last instance, kept for its logs after it is gone. */
  get lastInstance(): Instance | null {
    return this.lc.lastInstance;
  }
  /** GPUs it runs on, or has been given by placement (reserved) while it starts. */
  get gpuIndices(): readonly number[] {
    return this.lc.gpuIndices;
  }
  get readyAt(): number {
    return this.lc.readyAt;
  }
  get failures(): number {
    return this.lc.failures;
  }
  get coolDownUntil(): number {
    return this.lc.coolDownUntil;
  }
  /** The model whose start this one yields its memory to (takes no new requests), or null. */
  get yieldingTo(): string | null {
    return this.lc.yieldingTo;
  }
  get memoryWait(): MemoryWait | null {
    return this.lc.memoryWait;
  }
  /** The level the server sleeps at (sleeping, waking); null otherwise. */
  get sleptLevel(): 1 | 2 | null {
    return this.lc.sleptLevel;
  }
  /** When it last fell asleep (epoch ms): a GPU reading older than that still shows it awake. */
  get asleepAt(): number {
    return this.lc.asleepAt;
  }
  /** A stop was asked for and is under way (it may first abandon a start or a wake). */
  get stopAsked(): boolean {
    return this.lc.stopAsked;
  }
  /** While its start waits for other models to free GPU memory: why (for the queue_timeout it may end with). */
  get vramWait(): string | null {
    return this.lc.memoryWait?.reason ?? null;
  }
  get lastUsedAt(): number | null {
    return this._lastUsedAt;
  }
  /**
   * The last request's keep_alive (Ollama routes), in seconds: it replaces ttlSeconds from the end
   * of that request until the next one ends. Infinity = keep loaded; null = ttlSeconds.
   */
  get keepAliveSeconds(): number | null {
    return this._keepAliveSeconds;
  }
  /** load() and preload calls waiting for the current start (requests wait in the queue instead). */
  get explicitStarts(): number {
    return this._explicitStarts.interactive + this._explicitStarts.batch;
  }
  /** Those calls by class: an Ollama load-only request keeps its X-Priority / key class. */
  get explicitStartsByPriority(): Readonly<ByPriority<number>> {
    return this._explicitStarts;
  }

  get budgetMiB(): number {
    return this.config.runtime === 'remote' ? 0 : Math.round(this.config.vramGiB * 1024);
  }

  /** Holds GPU memory (or is about to). */
  get holdsGpu(): boolean {
    return (
      this.config.runtime !== 'remote' && this.lc.gpuIndices.length > 0 && !(this.lc.phase === 'stopped' || this.lc.phase === 'failed')
    );
  }

  /** Holds its whole budget (not just a sleeper's residue). */
  get holdsBudget(): boolean {
    const p = this.lc.phase;
    return this.holdsGpu && p !== 'fallingAsleep' && p !== 'sleeping' && p !== 'waking';
  }

  /** For LRU: the last request's end, or when it became ready if never used since. */
  get lastActivity(): number {
    return Math.max(this._lastUsedAt ?? 0, this.lc.readyAt);
  }

  /** What decides its idle stop (idle-policy.ts). */
  get idleFacts(): IdleFacts {
    const p = this.lc.phase;
    return {
      // ttlSeconds (or keep_alive) stops a sleeper as it stops an idle ready model.
      ready: p === 'ready' || p === 'yielding' || p === 'sleeping',
      busy: this.queue.busy,
      pinned: this.config.pinned,
      remote: this.config.runtime === 'remote',
      ttlSeconds: this.config.ttlSeconds,
      keepAliveSeconds: this._keepAliveSeconds,
      lastActivity: this.lastActivity,
    };
  }

  /** Idle seconds before it is stopped (keep_alive or ttlSeconds); Infinity = never. */
  get idleTtlSeconds(): number {
    return idleTtlSeconds(this.idleFacts);
  }

  /** When it will be stopped for idleness if nothing comes (epoch ms); null while busy, not ready, or never. */
  get idleDeadline(): number | null {
    return idleStopAt(this.idleFacts);
  }

  toStatus(): ModelStatus {
    const c = this.config;
    return {
      id: c.id,
      aliases: [...c.aliases],
      runtime: c.runtime,
      state: this.state,
      sleepLevel: sleepLevel(c),
      sleepHostRamMiB: this.state === 'sleeping' && this.lc.sleptLevel === 1 && c.runtime !== 'remote' ? sleepHostRamMiB(c) : null,
      inFlight: this.queue.inFlight.size,
      queued: this.queue.queued,
      queuedByPriority: this.queue.queuedByPriority,
      maxConcurrent: c.maxConcurrent,
      maxQueue: c.maxQueue,
      vramBudgetMiB: c.runtime === 'remote' ? null : this.budgetMiB,
      vramUsedMiB: null, // filled by buildStatus from the GPU reading (gateway/status.ts)
      gpus: [...this.lc.gpuIndices],
      endpoint: c.runtime === 'remote' ? c.url : (this.lc.instance?.endpoint ?? null),
      lastUsedAt: this._lastUsedAt === null ? null : new Date(this._lastUsedAt).toISOString(),
      stateSince: new Date(this.stateSince).toISOString(),
      pinned: c.pinned,
      ttlSeconds: c.ttlSeconds,
      keepAliveSeconds: this._keepAliveSeconds === null ? null : Number.isFinite(this._keepAliveSeconds) ? this._keepAliveSeconds : -1,
      idleDeadline: idleDeadlineIso(this.idleDeadline),
      error: this.lc.error,
      progress: this.lc.progress,
      engine: null, // filled by buildStatus from the engine scraper (gateway/engine/)
      yielding: this.lc.yieldingTo !== null,
      yieldingTo: this.lc.yieldingTo,
      waitingForMemory: this.lc.memoryWait
        ? {
            since: new Date(this.lc.memoryWait.since).toISOString(),
            reason: this.lc.memoryWait.reason,
            blockedBy: [...this.lc.memoryWait.blockedBy],
          }
        : null,
    };
  }
}

function idleDeadlineIso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}
