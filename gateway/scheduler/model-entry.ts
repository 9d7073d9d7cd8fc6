// One configured model's live state. The scheduler is the only writer; everything else reads.
// The lifecycle fields change only through the named transitions below, each checked against the
// table in model-transitions.ts and setting the fields that belong together in one place (so
// "became ready" is written once, for starts and adoptions alike). Every change notifies.

import { sleepHostRamMiB, sleepLevel } from '../config/sleep-config.js';
import type { ModelConfig } from '../config/types.js';
import type { ModelProgress, ModelState, ModelStatus } from '../status-types.js';
import type { Instance } from '../runtimes/runtime.js';
import { idleStopAt, idleTtlSeconds, type IdleFacts } from './idle-policy.js';
import { ModelQueue } from './model-queue.js';
import { IllegalTransition, canTransition } from './model-transitions.js';

/** Cool-down after failed starts: 10 s, doubling, at most 5 min (docs/scheduling.md "Starting a model"). */
export function coolDownMs(consecutiveFailures: number): number {
  return Math.min(300_000, 10_000 * 2 ** Math.max(0, consecutiveFailures - 1));
}

/** While a start waits for GPU memory: why, since when, and which models hold what it needs. */
export interface MemoryWait {
  reason: string;
  since: number;
  blockedBy: string[];
}

export class ModelEntry {
  private _state: ModelState;
  private _stateSince: number;
  private _error: string | null = null;
  private _progress: ModelProgress | null = null;
  private _instance: Instance | null = null;
  private _lastInstance: Instance | null = null;
  private _gpuIndices: number[] = [];
  private _readyAt = 0;
  private _failures = 0;
  private _coolDownUntil = 0;
  private _yieldingTo: string | null = null;
  private _memoryWait: MemoryWait | null = null;
  private _sleptLevel: 1 | 2 | null = null;
  private _fallingAsleep = false;
  private _wakeReserved = false;
  private _asleepAt = 0;

  // The executor's bookkeeping (scheduler.ts and its collaborators), not lifecycle state.
  lastUsedAt: number | null = null;
  /** Shared by all callers while a start (or a wake) is under way (P15). */
  startPromise: Promise<void> | null = null;
  /** While the server is being put to sleep. */
  sleepPromise: Promise<void> | null = null;
  startAbort: AbortController | null = null;
  stopPromise: Promise<void> | null = null;
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
    clock: () => number = Date.now,
  ) {
    this._state = config.runtime === 'remote' ? 'ready' : 'stopped';
    this._stateSince = now;
    this.queue = new ModelQueue({ maxQueue: config.maxQueue, maxConcurrent: config.maxConcurrent }, notify, clock);
  }

  get id(): string {
    return this.config.id;
  }
  get state(): ModelState {
    return this._state;
  }
  get stateSince(): number {
    return this._stateSince;
  }
  get error(): string | null {
    return this._error;
  }
  get progress(): ModelProgress | null {
    return this._progress;
  }
  get instance(): Instance | null {
    return this._instance;
  }
  /** The last instance, kept for its logs after it is gone. */
  get lastInstance(): Instance | null {
    return this._lastInstance;
  }
  /** GPUs it runs on, or has been given by placement (reserved) while it starts. */
  get gpuIndices(): readonly number[] {
    return this._gpuIndices;
  }
  get readyAt(): number {
    return this._readyAt;
  }
  get failures(): number {
    return this._failures;
  }
  get coolDownUntil(): number {
    return this._coolDownUntil;
  }
  /** The model whose start this one yields its memory to (takes no new requests), or null. */
  get yieldingTo(): string | null {
    return this._yieldingTo;
  }
  get memoryWait(): MemoryWait | null {
    return this._memoryWait;
  }
  /** The level the server sleeps at (sleeping, waking); null otherwise. */
  get sleptLevel(): 1 | 2 | null {
    return this._sleptLevel;
  }
  /** Sleeping, and its /sleep call has not returned yet: its memory is on its way out. */
  get fallingAsleep(): boolean {
    return this._fallingAsleep;
  }
  /** When it last fell asleep (epoch ms): a GPU reading older than that still shows it awake. */
  get asleepAt(): number {
    return this._asleepAt;
  }
  /** Waking, and placement has booked its budget again (before: it holds only its residue). */
  get wakeReserved(): boolean {
    return this._wakeReserved;
  }
  /** While its start waits for other models to free GPU memory: why (for the queue_timeout it may end with). */
  get vramWait(): string | null {
    return this._memoryWait?.reason ?? null;
  }

  get budgetMiB(): number {
    return this.config.runtime === 'remote' ? 0 : Math.round(this.config.vramGiB * 1024);
  }

  /** Holds GPU memory (or is about to). */
  get holdsGpu(): boolean {
    return (
      this.config.runtime !== 'remote' &&
      this._gpuIndices.length > 0 &&
      (this._state === 'pulling' ||
        this._state === 'starting' ||
        this._state === 'ready' ||
        this._state === 'sleeping' ||
        this._state === 'waking' ||
        this._state === 'stopping')
    );
  }

  /** Holds its whole budget (not just a sleeper's residue). */
  get holdsBudget(): boolean {
    return this.holdsGpu && this._state !== 'sleeping' && !(this._state === 'waking' && !this._wakeReserved);
  }

  /** For LRU: the last request's end, or when it became ready if never used since. */
  get lastActivity(): number {
    return Math.max(this.lastUsedAt ?? 0, this._readyAt);
  }

  /** What decides its idle stop (idle-policy.ts). */
  get idleFacts(): IdleFacts {
    return {
      // ttlSeconds (or keep_alive) stops a sleeper as it stops an idle ready model.
      ready: this._state === 'ready' || (this._state === 'sleeping' && !this._fallingAsleep),
      busy: this.queue.busy,
      pinned: this.config.pinned,
      remote: this.config.runtime === 'remote',
      ttlSeconds: this.config.ttlSeconds,
      keepAliveSeconds: this.keepAliveSeconds,
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

  // ---------------------------------------------------------------- named transitions

  /** stopped | failed → starting: placement comes next. */
  beginStart(now: number): void {
    this.go('beginStart', 'starting', now);
    this._error = null;
    this._progress = { phase: 'loading', percent: null, message: 'waiting for GPU memory' };
    this.notify();
  }

  /** The runtime entered a phase: pulling the image, or starting/loading the server. */
  enterPhase(phase: 'pulling' | 'starting', now: number): void {
    this.go('enterPhase', phase, now);
    this._progress =
      phase === 'pulling'
        ? { phase: 'pulling', percent: null, message: 'pulling the image' }
        : { phase: 'loading', percent: null, message: 'loading the model' };
    this.notify();
  }

  /** Placement gave it these GPUs: from here on other plans count its budget there. */
  reserve(gpuIndices: readonly number[]): void {
    this.expect('reserve', ['starting', 'pulling']);
    this._gpuIndices = [...gpuIndices];
    this.notify();
  }

  /** The runtime created the server (not healthy yet). */
  serverCreated(instance: Instance): void {
    this.expect('serverCreated', ['starting', 'pulling']);
    this._instance = instance;
    this._lastInstance = instance;
    this.notify();
  }

  /** Healthy: started by this gateway, or adopted from an earlier one (then with its GPUs). */
  becameReady(instance: Instance, gpuIndices: readonly number[], now: number): void {
    this.go('becameReady', 'ready', now);
    this._instance = instance;
    this._lastInstance = instance;
    this._gpuIndices = [...gpuIndices];
    this._readyAt = now;
    this._failures = 0;
    this._coolDownUntil = 0;
    this._error = null;
    this._progress = null;
    this._memoryWait = null;
    this._sleptLevel = null;
    this._wakeReserved = false;
    this.notify();
  }

  /** The start failed: failed, with a cool-down that doubles with each consecutive failure. */
  startFailed(message: string, now: number): void {
    this.go('startFailed', 'failed', now);
    this._failures += 1;
    this._coolDownUntil = now + coolDownMs(this._failures);
    this.clearServer();
    this._error = message;
    this._progress = null;
    this.notify();
  }

  /** The start was abandoned (stop, shutdown) or found no room: stopped, no cool-down. */
  startAbandoned(error: string | null, now: number): void {
    this.go('startAbandoned', 'stopped', now);
    this.clearServer();
    this._error = error;
    this._progress = null;
    this.notify();
  }

  /** ready → sleeping: the gateway asked the server to sleep at `level` (the call is under way). */
  beganSleeping(level: 1 | 2, now: number): void {
    this.go('beganSleeping', 'sleeping', now);
    this._sleptLevel = level;
    this._fallingAsleep = true;
    this._yieldingTo = null;
    this._progress = null;
    this.notify();
  }

  /** The server confirmed it sleeps: only its residue is left on the GPU. */
  fellAsleep(now: number): void {
    this.expect('fellAsleep', ['sleeping']);
    this._fallingAsleep = false;
    this._asleepAt = now;
    this.notify();
  }

  /** Adopted at gateway start: a server of this model found asleep (at `level`). */
  adoptedAsleep(instance: Instance, gpuIndices: readonly number[], level: 1 | 2, now: number): void {
    this.go('adoptedAsleep', 'sleeping', now);
    this._instance = instance;
    this._lastInstance = instance;
    this._gpuIndices = [...gpuIndices];
    this._readyAt = now;
    this._sleptLevel = level;
    this._fallingAsleep = false;
    this._asleepAt = now;
    this._failures = 0;
    this._coolDownUntil = 0;
    this._error = null;
    this._progress = null;
    this.notify();
  }

  /** sleeping → waking: a request or a load wants it; it waits for its memory first. */
  beginWake(now: number): void {
    this.go('beginWake', 'waking', now);
    this._wakeReserved = false;
    this._progress = { phase: 'loading', percent: null, message: 'waiting for GPU memory' };
    this.notify();
  }

  /** waking → sleeping: no room could be made for it (insufficient_vram); it sleeps on. */
  wakeAbandoned(now: number): void {
    this.go('wakeAbandoned', 'sleeping', now);
    this._wakeReserved = false;
    this._memoryWait = null;
    this._progress = null;
    this.notify();
  }

  /** Placement booked its budget again: the wake calls can begin. */
  wakeBooked(): void {
    this.expect('wakeBooked', ['waking']);
    this._wakeReserved = true;
    this.notify();
  }

  /** ready → stopping: the gateway asked the server to stop. */
  beginStop(now: number): void {
    this.go('beginStop', 'stopping', now);
    this.notify();
  }

  /** The server is gone, asked to (stopping) or on its own (ready, with the reason as error). */
  serverGone(error: string | null, now: number): void {
    this.go('serverGone', 'stopped', now);
    this.clearServer();
    this._error = error;
    this._progress = null;
    this.notify();
  }

  /** failed → stopped: unloaded, the user acknowledged the failure; no cool-down any more. */
  forgetFailure(now: number): void {
    this.go('forgetFailure', 'stopped', now);
    this._coolDownUntil = 0;
    this._error = null;
    this.notify();
  }

  // ---------------------------------------------------------------- annotations (no state change)

  setProgress(progress: ModelProgress | null): void {
    this._progress = progress;
    this.notify();
  }

  /** Yield to `to` (null: yield no more). Only a ready or stopping model yields. */
  setYielding(to: string | null): void {
    if (to === this._yieldingTo) return;
    if (to !== null) this.expect('setYielding', ['ready']);
    this._yieldingTo = to;
    this.notify();
  }

  /** Record (or clear) why the start waits for memory; notifies only when something changed. */
  setMemoryWait(wait: { reason: string; blockedBy: string[] } | null, now: number): void {
    const cur = this._memoryWait;
    if (wait === null) {
      if (cur === null) return;
      this._memoryWait = null;
    } else {
      if (cur && cur.reason === wait.reason && cur.blockedBy.join() === wait.blockedBy.join()) return;
      this._memoryWait = { reason: wait.reason, blockedBy: [...wait.blockedBy], since: cur?.since ?? now };
      this._progress = { phase: 'loading', percent: null, message: `waiting for GPU memory: ${wait.reason}` };
    }
    this.notify();
  }

  noteUsed(now: number): void {
    this.lastUsedAt = now;
  }

  private clearServer(): void {
    this._sleptLevel = null;
    this._fallingAsleep = false;
    this._wakeReserved = false;
    this._instance = null;
    this._gpuIndices = [];
    this.pids = new Set();
    this._yieldingTo = null;
    this._memoryWait = null;
  }

  private go(transition: string, to: ModelState, now: number): void {
    if (this.config.runtime === 'remote' || !canTransition(this._state, to)) {
      throw new IllegalTransition(this.id, transition, this._state, to);
    }
    if (to !== this._state) {
      this._state = to;
      this._stateSince = now;
    }
  }

  private expect(transition: string, states: readonly ModelState[]): void {
    if (!states.includes(this._state)) throw new IllegalTransition(this.id, transition, this._state, this._state);
  }

  toStatus(): ModelStatus {
    const c = this.config;
    return {
      id: c.id,
      aliases: [...c.aliases],
      runtime: c.runtime,
      state: this._state,
      sleepLevel: sleepLevel(c),
      sleepHostRamMiB: this._state === 'sleeping' && this._sleptLevel === 1 && c.runtime !== 'remote' ? sleepHostRamMiB(c) : null,
      inFlight: this.queue.inFlight.size,
      queued: this.queue.queued,
      queuedByPriority: this.queue.queuedByPriority,
      maxConcurrent: c.maxConcurrent,
      maxQueue: c.maxQueue,
      vramBudgetMiB: c.runtime === 'remote' ? null : this.budgetMiB,
      vramUsedMiB: null, // filled by buildStatus from the GPU reading (gateway/status.ts)
      gpus: [...this._gpuIndices],
      endpoint: c.runtime === 'remote' ? c.url : (this._instance?.endpoint ?? null),
      lastUsedAt: this.lastUsedAt === null ? null : new Date(this.lastUsedAt).toISOString(),
      stateSince: new Date(this._stateSince).toISOString(),
      pinned: c.pinned,
      ttlSeconds: c.ttlSeconds,
      keepAliveSeconds: this.keepAliveSeconds === null ? null : Number.isFinite(this.keepAliveSeconds) ? this.keepAliveSeconds : -1,
      idleDeadline: idleDeadlineIso(this.idleDeadline),
      error: this._error,
      progress: this._progress,
      engine: null, // filled by buildStatus from the engine scraper (gateway/engine/)
      yielding: this._yieldingTo !== null,
      yieldingTo: this._yieldingTo,
      waitingForMemory: this._memoryWait
        ? {
            since: new Date(this._memoryWait.since).toISOString(),
            reason: this._memoryWait.reason,
            blockedBy: [...this._memoryWait.blockedBy],
          }
        : null,
    };
  }
}

function idleDeadlineIso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}
