// The scheduler: the one place that carries out decisions about models. Callers ask `admit()`,
// `release()`, `load()` or `unload()`; they never read a state and act on it. The decisions
// themselves are pure and live beside it: placement and turn-taking (memory-turns.ts over
// placement.ts), idle stops (idle-policy.ts), memory being released (memory-ledger.ts), the
// lifecycle's allowed transitions (model-transitions.ts), admission (model-queue.ts). See design.md.

import { EventEmitter } from 'node:events';
import os from 'node:os';
import { sleepHostRamBudgetMiB, sleepHostRamMiB, sleepLevel, sleepResidualMiB } from '../config/sleep-config.js';
import type { GatewayConfig, LocalModelConfig } from '../config/types.js';
import { GatewayError } from '../errors.js';
import { attributeGpuMemory, type ManagedModel } from '../gpu/attribution.js';
import type { GpuProbe, GpuSnapshot } from '../gpu/probe.js';
import type { Instance, Runtime } from '../runtimes/runtime.js';
import { isSleeping, sleepServer, wakeServer, type WakeStep } from '../runtimes/vllm-sleep.js';
import { waitHealthy } from '../runtimes/wait-healthy.js';
import type { ProgressSnapshot } from '../proxy/progress-comments.js';
import type { ModelState } from '../status-types.js';
import type { AbortLike } from '../proxy/cancel.js';
import { idleStopAt } from './idle-policy.js';
import { MemoryLedger } from './memory-ledger.js';
import { decideMemory, type ContenderFacts, type HolderFacts, type MemoryDecision } from './memory-turns.js';
import { ModelEntry, coolDownMs } from './model-entry.js';
import type { Lease } from './model-queue.js';
import { gpuMemoryUtilization, hostRamRoom, type PlacedModel, type PlacementGpu } from './placement.js';

export interface SchedulerDeps {
  config: GatewayConfig;
  runtimes: Partial<Record<'docker' | 'process', Runtime>>;
  gpu: GpuProbe | null;
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void };
  now?: () => number;
  /** The host's total RAM in MiB, for `scheduling.sleepHostRamGiB: auto` (systeminformation; tests inject). */
  hostRamTotalMiB?: () => Promise<number>;
}

/** How long a start waits for the GPU to *measure* evicted memory as free (P11). */
const MEASURED_RELEASE_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 10_000;
const IDLE_GRACE_MS = 500;

interface Placement {
  gpuIndices: number[];
  utilization: number;
}

/** A start waiting for GPU memory (runStart awaits `resolve` or `reject`). */
interface Contender {
  entry: ModelEntry;
  registeredAt: number;
  resolve(p: Placement): void;
  reject(err: Error): void;
}

/** The longest delay a Node timer takes (2^31 − 1 ms, 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

export class Scheduler extends EventEmitter {
  readonly entries = new Map<string, ModelEntry>();
  private readonly byName = new Map<string, ModelEntry>();
  private readonly now: () => number;
  private shuttingDown = false;
  private drainCut = false;
  private readonly changeWaiters = new Set<() => void>();
  private unsubscribeGpu: (() => void) | null = null;
  private readonly ledger = new MemoryLedger();
  private readonly contenders = new Map<ModelEntry, Contender>();
  private settleScheduled = false;
  private wakeTimer: NodeJS.Timeout | null = null;
  private gpuRefresh: Promise<unknown> | null = null;
  private gpuRefreshTried = false;
  /** Runtimes whose start-up reconciliation has not succeeded yet, and the one in progress. */
  private readonly unreconciled = new Set<Runtime['kind']>();
  private readonly reconciling = new Map<Runtime['kind'], Promise<void>>();
  evictions = 0;
  /** Servers put to sleep, and woken, since the gateway started. */
  sleeps = 0;
  wakes = 0;
  /** Host RAM all level-1 sleepers may hold together; `auto` is settled from the host's RAM at init(). */
  private hostRamBudgetMiB: number;

  constructor(private readonly deps: SchedulerDeps) {
    super();
    this.now = deps.now ?? Date.now;
    for (const m of deps.config.models) {
      const entry = new ModelEntry(m, () => this.changed(), this.now(), this.now);
      this.entries.set(m.id, entry);
      this.byName.set(m.id, entry);
      for (const a of m.aliases) this.byName.set(a, entry);
    }
    if (deps.gpu) this.unsubscribeGpu = deps.gpu.onReading((snap) => void this.onGpuReading(snap));
    this.hostRamBudgetMiB = sleepHostRamBudgetMiB(deps.config, Math.round(os.totalmem() / 1024 / 1024));
  }

  /** The model a request names (id or alias), or undefined. */
  resolve(name: string): ModelEntry | undefined {
    return this.byName.get(name);
  }

  private changed(): void {
    this.emit('change');
    for (const wake of this.changeWaiters) wake();
    this.changeWaiters.clear();
    if (this.contenders.size > 0 || this.anyYielding()) this.settleSoon();
  }

  private nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.changeWaiters.add(done);
    });
  }

  /** Ready and taking requests (a yielding model finishes what it has and takes no more). */
  private serving(entry: ModelEntry): boolean {
    return entry.state === 'ready' && entry.yieldingTo === null;
  }

  private grant(entry: ModelEntry): void {
    if (this.serving(entry)) entry.queue.grant();
  }

  // ---------------------------------------------------------------- admission

  /**
   * Admit a request: join the model's queue (429 when full), wait for the model to be ready and
   * for a slot, in FIFO order, at most queueTimeoutSeconds. `signal` is the client going away: the
   * request leaves the queue at once (P5). Resolves with a lease to release in a `finally`.
   */
  async admit(entry: ModelEntry, requestId: string, signal: AbortLike): Promise<Lease> {
    if (this.shuttingDown) throw new GatewayError('shutting_down', 'The gateway is shutting down');
    this.throwIfCoolingDown(entry);
    // Hot path: ready, nobody waiting and a slot free: in flight at once (no timer, no listeners).
    if (this.serving(entry) && !signal.aborted) {
      const lease = entry.queue.tryLease(requestId);
      if (lease) return lease;
    }
    const ticket = entry.queue.enqueue(requestId);
    const timeoutS = this.deps.config.limits.queueTimeoutSeconds;
    // insufficient_vram is answered at once, only when the model can never fit (docs/scheduling.md);
    // a request that waited out the queue timeout for memory held by busy models is a queue timeout,
    // whose message says what it waited for.
    const timer = setTimeout(
      () =>
        ticket.cancel(
          entry.vramWait !== null
            ? memoryWaitTimedOut(entry.id, timeoutS, entry.vramWait)
            : new GatewayError('queue_timeout', `Waited ${timeoutS} s for ${entry.id} without getting a slot`),
        ),
      timeoutS * 1000,
    );
    const onAbort = () => ticket.cancel(new GatewayError('client_gone', 'The client went away while waiting'));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    try {
      if (entry.state === 'ready') this.grant(entry);
      else this.ensureStarted(entry).catch(() => {}); // failures reach the waiters via rejectWaiting
      return await ticket.granted;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      this.armIdleTimer(entry);
    }
  }

  /** The error admit() would fail with at once (shutting down, cooling down, queue full), or null. */
  admissionError(entry: ModelEntry): GatewayError | null {
    if (this.shuttingDown) return new GatewayError('shutting_down', 'The gateway is shutting down');
    try {
      this.throwIfCoolingDown(entry);
    } catch (err) {
      return err as GatewayError;
    }
    if (entry.queue.queued >= entry.config.maxQueue && !(this.serving(entry) && entry.queue.queued === 0)) {
      return new GatewayError('queue_full', `The queue for this model is full (${entry.config.maxQueue} waiting); try again shortly.`);
    }
    return null;
  }

  /** Whether admit() would hand out a slot at once (ready, nobody waiting, a slot free). */
  admitsAtOnce(entry: ModelEntry): boolean {
    return this.serving(entry) && entry.queue.queued === 0 && entry.queue.inFlight.size < entry.config.maxConcurrent;
  }

  /** Where a waiting request stands, for progress comments (streaming.progressComments). */
  progressOf(entry: ModelEntry, requestId: string): ProgressSnapshot {
    const position = entry.queue.positionOf(requestId);
    const percent = entry.progress?.percent ?? null;
    switch (entry.state) {
      case 'pulling':
        return { phase: 'pulling', position, percent };
      case 'sleeping':
      case 'waking':
        return { phase: 'waking', position, percent: entry.state === 'waking' ? percent : null };
      case 'ready':
        return position === null ? { phase: 'sent' } : { phase: 'queued', position };
      default:
        return { phase: 'starting', position, percent: entry.state === 'starting' ? percent : null };
    }
  }

  /**
   * A request's keep_alive (seconds; Infinity = keep loaded; null = back to ttlSeconds), in force
   * from the end of that request until the next one ends: the proxy calls this just before
   * release(). 0 stops the model as soon as it is idle (unless pinned).
   */
  setKeepAlive(entry: ModelEntry, seconds: number | null): void {
    if (entry.keepAliveSeconds === seconds) return;
    entry.keepAliveSeconds = seconds;
    this.clearIdleTimer(entry);
    this.armIdleTimer(entry);
    this.changed();
  }

  /** Called by the proxy when a lease ends: records use, hands the slot on, arms the idle timer. */
  release(entry: ModelEntry, lease: Lease): void {
    lease.release();
    entry.noteUsed(this.now());
    this.grant(entry);
    this.armIdleTimer(entry);
  }

  private throwIfCoolingDown(entry: ModelEntry): void {
    const left = entry.coolDownUntil - this.now();
    if (entry.state === 'failed' && left > 0) {
      throw new GatewayError(
        'model_cooling_down',
        `${entry.id} failed to start and is cooling down for ${Math.ceil(left / 1000)} s: ${entry.error ?? ''}`,
        {
          retryAfter: Math.ceil(left / 1000),
        },
      );
    }
  }

  // ---------------------------------------------------------------- load / unload (admin)

  /** Start a model and wait until it is ready (or failed). */
  async load(entry: ModelEntry): Promise<void> {
    if (this.shuttingDown) throw new GatewayError('shutting_down', 'The gateway is shutting down');
    this.throwIfCoolingDown(entry);
    entry.explicitStarts += 1;
    try {
      await this.ensureStarted(entry);
    } finally {
      entry.explicitStarts -= 1;
      this.changed(); // a start that waits for memory may now be wanted by nobody
    }
    this.armIdleTimer(entry);
  }

  /** Stop a model; 409 model_busy when it has requests unless `force` (they then end with 503). */
  async unload(entry: ModelEntry, force: boolean): Promise<void> {
    if (entry.config.runtime === 'remote') return;
    if (entry.queue.busy && !force) {
      throw new GatewayError(
        'model_busy',
        `${entry.id} has ${entry.queue.inFlight.size} request(s) in flight and ${entry.queue.queued} queued; unload with ?force=true to cut them`,
      );
    }
    const cut = new GatewayError('model_stopped', `${entry.id} was unloaded while this request was waiting or running`);
    await this.stop(entry, 'unloaded', cut);
    // A failed model that is unloaded forgets its failure (the user acknowledged it).
    if (entry.state === 'failed') entry.forgetFailure(this.now());
  }

  /**
   * Put a ready model with nothing in flight or queued to sleep at its sleep.level (the admin route):
   * 409 sleep_not_enabled, model_not_ready or model_busy otherwise. Resolves once it sleeps.
   */
  async sleep(entry: ModelEntry): Promise<void> {
    const level = sleepLevel(entry.config);
    if (level === 0) {
      throw new GatewayError(
        'sleep_not_enabled',
        `${entry.id} has sleep.level 0: set models.${entry.id}.sleep.level to 1 or 2 to use sleep mode`,
      );
    }
    if (entry.state !== 'ready' || entry.yieldingTo !== null) {
      throw new GatewayError(
        'model_not_ready',
        `${entry.id} is ${entry.state}${entry.yieldingTo ? ' (yielding)' : ''}: only a ready model can be put to sleep`,
      );
    }
    const busy = () =>
      new GatewayError(
        'model_busy',
        `${entry.id} has ${entry.queue.inFlight.size} request(s) in flight and ${entry.queue.queued} queued; it can sleep once they are done`,
      );
    if (entry.queue.busy) throw busy();
    if (!(await this.makeHostRamRoom(entry))) return;
    if (entry.queue.busy) throw busy(); // a request came while sleepers were stopped
    await this.putToSleep(entry, 'asked');
    if (stateOf(entry) !== 'sleeping') {
      throw new GatewayError(
        'upstream_error',
        `${entry.id} did not go to sleep${entry.error ? `: ${entry.error}` : ''}; its server was stopped`,
      );
    }
  }

  /**
   * Room within `scheduling.sleepHostRamGiB` for a model put to sleep by hand, which counts as the
   * most recent sleeper: level-1 sleepers are stopped to make room, least recently used first. When
   * even that is not enough the model is stopped instead, as an eviction would (false).
   */
  private async makeHostRamRoom(entry: ModelEntry): Promise<boolean> {
    const sleepers: PlacedModel[] = [];
    for (const e of this.entries.values()) {
      // One whose queue waits for its turn back (it yielded) is not stopped for this.
      if (e === entry || e.state !== 'sleeping' || e.sleptLevel !== 1 || e.queue.queued > 0) continue;
      const hostRamMiB = sleepHostRamMiB(e.config as LocalModelConfig);
      sleepers.push({
        id: e.id,
        gpus: [...e.gpuIndices],
        budgetMiB: 0,
        lastUsedAt: e.lastUsedAt ?? 0,
        busy: false,
        pinned: e.config.pinned,
        evictable: true,
        asleep: true,
        sleep: { residualMiB: 0, hostRamMiB },
      });
    }
    const need = {
      id: entry.id,
      lastUsedAt: Infinity,
      sleep: { residualMiB: 0, hostRamMiB: sleepHostRamMiB(entry.config as LocalModelConfig) },
    };
    const make = hostRamRoom(sleepers, need, this.hostRamBudgetMiB);
    const budgetGiB = +(this.hostRamBudgetMiB / 1024).toFixed(1);
    if (make === null) {
      this.deps.log.info({ model: entry.id, hostRamBudgetGiB: budgetGiB }, 'no host RAM left to sleep in; stopping the model instead');
      await this.stop(entry, 'no host RAM to sleep in', new GatewayError('model_stopped', `${entry.id} was stopped`));
      return false;
    }
    if (make.length === 0) return true;
    this.deps.log.info({ model: entry.id, stop: make, hostRamBudgetGiB: budgetGiB }, 'stopping sleepers to make host RAM room');
    await Promise.all(
      make.map((id) => this.stop(this.entries.get(id)!, 'evicted', new GatewayError('model_stopped', `${id} was evicted`))),
    );
    return true;
  }

  // ---------------------------------------------------------------- start

  private ensureStarted(entry: ModelEntry): Promise<void> {
    if (entry.config.runtime === 'remote' || entry.state === 'ready') return Promise.resolve();
    if (!entry.startPromise) {
      const run = entry.state === 'sleeping' ? this.runWake(entry) : this.runStart(entry);
      entry.startPromise = run.finally(() => {
        entry.startPromise = null;
        entry.startAbort = null;
      });
    }
    return entry.startPromise;
  }

  private async runStart(entry: ModelEntry): Promise<void> {
    if (entry.stopPromise) await entry.stopPromise; // a start waits for the stop it races with
    const config = entry.config as LocalModelConfig;
    const runtime = this.deps.runtimes[config.runtime];
    const ac = new AbortController();
    entry.startAbort = ac;
    entry.beginStart(this.now());
    let instance: Instance | null = null;
    const startedAt = this.now();
    try {
      if (!runtime) throw new GatewayError('model_start_failed', `No ${config.runtime} runtime is available`);
      if (this.unreconciled.has(runtime.kind)) {
        await this.reconcile(runtime); // throws while the runtime still cannot be asked
        if (entry.state === 'ready') return; // adopted
        if (entry.state === 'sleeping') return await this.runWake(entry); // adopted asleep
      }
      const placement = await this.waitForMemory(entry, ac.signal);
      const placedAt = this.now();
      await this.waitForMeasuredRelease(placement.gpuIndices, entry.budgetMiB, ac.signal);
      entry.setProgress({ phase: 'loading', percent: null, message: 'starting the server' });
      instance = await runtime.start({
        model: config,
        gpuIndices: placement.gpuIndices,
        gpuMemoryUtilization: placement.utilization,
        signal: ac.signal,
        onPhase: (phase) => {
          if (!ac.signal.aborted) entry.enterPhase(phase, this.now());
        },
        onProgress: (progress) => {
          if (!ac.signal.aborted) entry.setProgress(progress);
        },
      });
      entry.serverCreated(instance);
      this.watchExit(entry, instance);
      if (entry.state !== 'starting') entry.enterPhase('starting', this.now());
      await waitHealthy(instance, {
        healthPath: config.healthPath,
        timeoutMs: this.deps.config.timeouts.startSeconds * 1000,
        signal: ac.signal,
      });
      // Logged (synchronously, see cli-log-destination.ts) before the state that lets requests in.
      // ms: since the start was asked for (its turn for memory included); startMs: the server's own start.
      const now = this.now();
      this.deps.log.info({ model: entry.id, ms: now - startedAt, startMs: now - placedAt, endpoint: instance.endpoint }, 'model ready');
      entry.becameReady(instance, placement.gpuIndices, this.now());
      this.grant(entry);
    } catch (raw) {
      const aborted = ac.signal.aborted;
      const err = aborted ? (ac.signal.reason as Error) : toStartError(raw);
      if (instance) await instance.stop(2000).catch(() => {});
      if (aborted || isNoRoom(err)) {
        entry.startAbandoned(aborted ? null : err.message, this.now());
      } else {
        entry.startFailed(err.message, this.now());
        this.deps.log.warn({ model: entry.id, err: err.message, coolDownMs: coolDownMs(entry.failures) }, 'model start failed');
      }
      entry.queue.rejectWaiting(err);
      throw err;
    }
  }

  // ---------------------------------------------------------------- sleep and wake (vLLM sleep mode)

  /** The level a sleeper's wake follows: the one it was put to sleep at (or found asleep at). */
  private wakeLevel(entry: ModelEntry): 1 | 2 {
    return entry.sleptLevel ?? (sleepLevel(entry.config) === 2 ? 2 : 1);
  }

  private get sleepTimeoutMs(): number {
    return this.deps.config.timeouts.startSeconds * 1000;
  }

  /**
   * ready (nothing in flight or queued) → sleeping: POST /sleep?level=L, confirmed by /is_sleeping.
   * The state changes at once, so no request reaches the server from here on; one that arrives
   * waits in the queue and wakes it once it sleeps. A sleep that fails stops the server.
   */
  private putToSleep(entry: ModelEntry, why: string): Promise<void> {
    if (entry.sleepPromise) return entry.sleepPromise;
    const instance = entry.instance;
    const level = sleepLevel(entry.config);
    // Nothing in flight; nothing queued either, unless it yields (its queue waits for its turn back).
    const busy = entry.queue.inFlight.size > 0 || (entry.queue.queued > 0 && entry.yieldingTo === null);
    if (!instance || level === 0 || entry.state !== 'ready' || busy || entry.stopPromise) return Promise.resolve();
    this.clearIdleTimer(entry);
    const t0 = this.now();
    entry.beganSleeping(level, t0);
    this.sleeps += 1;
    this.emit('sleeping', entry.id);
    this.deps.log.info({ model: entry.id, why, level }, 'putting model to sleep');
    entry.sleepPromise = (async () => {
      try {
        await sleepServer(instance.endpoint, level, { timeoutMs: this.sleepTimeoutMs });
        if (entry.instance !== instance || entry.state !== 'sleeping') return; // stopped meanwhile
        entry.fellAsleep(this.now());
        this.deps.log.info({ model: entry.id, level, ms: this.now() - t0 }, 'model asleep');
      } catch (err) {
        if (entry.instance !== instance || entry.state !== 'sleeping') return;
        const msg = (err as Error).message;
        this.deps.log.warn({ model: entry.id, err: msg }, 'model did not go to sleep; stopping it');
        await this.stopServer(entry, instance, `The model server did not go to sleep (${msg}); it was stopped`);
      }
    })().finally(() => {
      entry.sleepPromise = null;
      this.armIdleTimer(entry);
      // A request that arrived meanwhile wakes it (or, when the sleep failed, starts it anew).
      if (entry.queue.queued > 0 && !this.shuttingDown) this.ensureStarted(entry).catch(() => {});
    });
    return entry.sleepPromise;
  }

  /**
   * sleeping → waking → ready: make room like a start (on the GPUs it sleeps on), then wake it
   * (level 1: /wake_up; level 2: weights, reload_weights, kv_cache), ready once /is_sleeping says
   * false. A wake that fails or takes longer than timeouts.startSeconds stops the server and starts
   * the model anew, once.
   */
  private async runWake(entry: ModelEntry): Promise<void> {
    if (entry.sleepPromise) await entry.sleepPromise;
    if (entry.state !== 'sleeping' || !entry.instance) return this.runStart(entry); // its sleep failed: stopped
    const instance = entry.instance;
    const level = this.wakeLevel(entry);
    const ac = new AbortController();
    entry.startAbort = ac;
    this.clearIdleTimer(entry);
    entry.beginWake(this.now());
    const t0 = this.now();
    try {
      await this.waitForMemory(entry, ac.signal); // placement books its budget (wakeBooked) on its GPUs
      const booked = this.now();
      await this.waitForMeasuredRelease([...entry.gpuIndices], entry.budgetMiB - this.residualMiB(entry), ac.signal);
      entry.setProgress({ phase: 'loading', percent: 0, message: 'waking from sleep' });
      await wakeServer(instance.endpoint, level, {
        timeoutMs: this.sleepTimeoutMs,
        signal: ac.signal,
        onStep: (step, i, of) => {
          if (!ac.signal.aborted) entry.setProgress({ phase: 'loading', percent: Math.round((i / of) * 100), message: WAKE_STEPS[step] });
        },
      });
      entry.becameReady(instance, entry.gpuIndices, this.now());
      this.wakes += 1;
      this.emit('woke', entry.id);
      // ms: the wake itself; waitedMs: for its turn on the GPU before that
      this.deps.log.info({ model: entry.id, level, ms: this.now() - booked, waitedMs: booked - t0 }, 'model awake');
      this.grant(entry);
    } catch (raw) {
      if (ac.signal.aborted) {
        const err = ac.signal.reason as Error;
        entry.queue.rejectWaiting(err);
        throw err;
      }
      if (isNoRoom(raw)) {
        entry.wakeAbandoned(this.now());
        entry.queue.rejectWaiting(raw);
        this.armIdleTimer(entry);
        throw raw;
      }
      const msg = (raw as Error).message;
      this.deps.log.warn({ model: entry.id, err: msg }, 'model did not wake; stopping it and starting it anew');
      if (entry.instance === instance && stateOf(entry) === 'waking') await this.stopServer(entry, instance, null);
      entry.startAbort = null;
      await this.runStart(entry);
    }
  }

  /** What a sleeper holds on each of its GPUs: measured by nvidia-smi where it can, else sleep.residualGiB. */
  private residualMiB(entry: ModelEntry): number {
    const config = entry.config as LocalModelConfig;
    const fallback = sleepResidualMiB(config);
    const snap = this.deps.gpu?.state().snapshot;
    // Only a sleeper's own reading is its residue: an awake model (what it will hold once asleep,
    // for placement) or a reading taken before it fell asleep shows its whole budget.
    const asleep = entry.state === 'sleeping' || entry.state === 'waking';
    if (!asleep || !snap?.measured || entry.pids.size === 0 || entry.fallingAsleep || snap.at <= entry.asleepAt) return fallback;
    const attribution = attributeGpuMemory(snap, this.managedModels());
    let most = 0;
    for (const g of attribution.gpus) most = Math.max(most, g.models.find((m) => m.id === entry.id)?.usedMiB ?? 0);
    return most > 0 ? Math.min(most, entry.budgetMiB) : fallback;
  }

  /** GPU memory the model holds now on each of its GPUs: its budget, or a sleeper's residue. */
  heldMiB(entry: ModelEntry): number {
    return entry.holdsBudget ? entry.budgetMiB : entry.holdsGpu ? this.residualMiB(entry) : 0;
  }

  /** The stop itself: stopping, the server stopped, stopped (with `error` when it is worth showing). */
  private async stopServer(entry: ModelEntry, instance: Instance, error: string | null): Promise<void> {
    entry.beginStop(this.now());
    await instance.stop(STOP_GRACE_MS).catch((err: Error) => this.deps.log.error({ model: entry.id, err: err.message }, 'stop failed'));
    this.noteReleasing(entry);
    entry.serverGone(error, this.now());
  }

  // ---------------------------------------------------------------- GPU memory: waiting for a turn

  /**
   * Join the line for GPU memory and wait until the decision places this start (its GPUs are then
   * reserved), or refuses it (insufficient_vram), or queueTimeoutSeconds pass, or it is aborted.
   */
  private waitForMemory(entry: ModelEntry, signal: AbortSignal): Promise<Placement> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    const timeoutS = this.deps.config.limits.queueTimeoutSeconds;
    return new Promise<Placement>((resolve, reject) => {
      const done = () => {
        clearTimeout(deadline);
        signal.removeEventListener('abort', onAbort);
        if (this.contenders.get(entry) === contender) this.contenders.delete(entry);
        entry.setMemoryWait(null, this.now());
      };
      const contender: Contender = {
        entry,
        registeredAt: this.now(),
        resolve: (p) => {
          done();
          resolve(p);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const deadline = setTimeout(() => {
        contender.reject(memoryWaitTimedOut(entry.id, timeoutS, entry.vramWait ?? 'no room was made in time'));
      }, timeoutS * 1000);
      deadline.unref();
      const onAbort = () => contender.reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      this.contenders.set(entry, contender);
      this.gpuRefreshTried = false;
      this.settleMemory(); // decide at once: a start that fits goes ahead without waiting a turn of the event loop
    });
  }

  private settleSoon(): void {
    if (this.settleScheduled) return;
    this.settleScheduled = true;
    // After the current synchronous step (which may be in the middle of several changes), before
    // any timer or I/O: a decision never waits behind a client's next request.
    queueMicrotask(() => {
      this.settleScheduled = false;
      this.settleMemory();
    });
  }

  private anyYielding(): boolean {
    for (const e of this.entries.values()) if (e.yieldingTo !== null) return true;
    return false;
  }

  /** Take a snapshot, ask the pure decision, carry it out. Synchronous: nothing changes in between. */
  private settleMemory(): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    if (this.contenders.size === 0 && !this.anyYielding()) return;
    const gpus = this.placementGpusNow();
    if (gpus === null) return; // a first GPU reading is on its way; settled again when it comes
    const now = this.now();
    const holders: HolderFacts[] = [];
    for (const e of this.entries.values()) {
      if (!e.holdsGpu) continue;
      const level = sleepLevel(e.config);
      const canSleep = level > 0 && e.state === 'ready' && !e.sleepPromise;
      holders.push({
        id: e.id,
        gpus: e.gpuIndices,
        budgetMiB: this.heldMiB(e),
        pinned: e.config.pinned,
        phase:
          e.stopPromise || e.state === 'stopping'
            ? 'stopping'
            : e.state === 'sleeping'
              ? e.fallingAsleep
                ? 'falling-asleep'
                : 'sleeping'
              : e.state === 'waking'
                ? 'waking'
                : e.state === 'ready'
                  ? 'ready'
                  : 'starting',
        sleep:
          canSleep || e.state === 'sleeping'
            ? {
                residualMiB: this.residualMiB(e),
                hostRamMiB:
                  e.state === 'sleeping'
                    ? e.sleptLevel === 1
                      ? sleepHostRamMiB(e.config as LocalModelConfig)
                      : 0
                    : sleepHostRamMiB(e.config as LocalModelConfig),
              }
            : null,
        inFlight: e.queue.inFlight.size,
        queued: e.queue.queued,
        lastUsedAt: e.lastUsedAt ?? 0,
        readyAt: e.readyAt,
        yielding: e.yieldingTo !== null,
      });
    }
    const contenders: ContenderFacts[] = [...this.contenders.values()].map((c) => {
      const e = c.entry;
      const config = e.config as LocalModelConfig;
      const oldest = e.queue.oldestWaitingAt;
      const since = Math.min(oldest ?? Infinity, e.explicitStarts > 0 ? c.registeredAt : Infinity);
      // A wake needs its budget where it sleeps.
      const gpus = e.state === 'waking' ? [...e.gpuIndices] : config.gpus;
      return { id: e.id, budgetMiB: e.budgetMiB, gpus, since: since === Infinity ? null : since };
    });
    const decision = decideMemory({
      now,
      gpus,
      reserveMiB: this.reserveMiB,
      holders,
      contenders,
      swapAfterMs: this.swapAfterMs,
      idleGraceMs: this.idleGraceMs,
      hostRamBudgetMiB: this.hostRamBudgetMiB,
    });
    this.carryOut(decision, gpus);
  }

  private carryOut(d: MemoryDecision, gpus: readonly PlacementGpu[]): void {
    const now = this.now();
    const contenderOf = (id: string) => [...this.contenders.values()].find((c) => c.entry.id === id);
    for (const r of d.refuse) {
      const c = contenderOf(r.id);
      if (!c) continue;
      const message =
        r.reason === 'no request waits for it any more'
          ? `Not enough GPU memory for ${r.id}, and no request waits for it any more${c.entry.vramWait ? `: ${c.entry.vramWait}` : ''}`
          : `Not enough GPU memory for ${r.id}: ${r.reason}`;
      c.reject(new GatewayError('insufficient_vram', message));
    }
    for (const p of d.place) {
      const c = contenderOf(p.id);
      if (!c) continue;
      const config = c.entry.config as LocalModelConfig;
      const totals = p.gpuIndices.map((i) => gpus.find((g) => g.index === i)!.totalMiB);
      if (c.entry.state === 'waking') c.entry.wakeBooked();
      else c.entry.reserve(p.gpuIndices);
      c.resolve({ gpuIndices: p.gpuIndices, utilization: gpuMemoryUtilization(config.vramGiB, Math.min(...totals)) });
    }
    for (const e of this.entries.values()) {
      const to = d.yielding.get(e.id) ?? null;
      if (to === e.yieldingTo || (to !== null && e.state !== 'ready')) continue;
      if (to !== null) this.deps.log.info({ model: e.id, to, readyForMs: now - e.readyAt }, 'model yields its GPU memory');
      e.setYielding(to);
      if (to === null) this.grant(e);
    }
    const byContender = new Map<string, string[]>();
    for (const sl of d.sleep) {
      const e = this.entries.get(sl.id);
      if (!e || e.stopPromise || e.sleepPromise || e.state !== 'ready') continue;
      void this.putToSleep(e, `evicted for ${sl.for}`);
    }
    for (const ev of d.evict) {
      const e = this.entries.get(ev.id);
      if (!e || e.stopPromise || !(e.state === 'ready' || (e.state === 'sleeping' && !e.fallingAsleep))) continue;
      byContender.set(ev.for, [...(byContender.get(ev.for) ?? []), ev.id]);
    }
    for (const [forId, ids] of byContender) {
      this.deps.log.info({ model: forId, evict: ids }, 'evicting least recently used models');
      for (const id of ids) this.evict(this.entries.get(id)!);
    }
    for (const [id, w] of d.waiting) contenderOf(id)?.entry.setMemoryWait(w, now);
    if (d.wakeAt !== null) {
      this.wakeTimer = setTimeout(() => this.settleSoon(), Math.max(0, d.wakeAt - now));
      this.wakeTimer.unref();
    }
  }

  /** `scheduling.swapAfterSeconds` in ms (0: busy models are never displaced). */
  private get swapAfterMs(): number {
    return (this.deps.config.scheduling?.swapAfterSeconds ?? 30) * 1000; // absent in configs built in code
  }

  /**
   * How long a model must have had nothing in flight or queued to count as idle (docs/configuration.md): a
   * client that sends its next request as soon as the last one ended keeps its model busy.
   */
  private get idleGraceMs(): number {
    return IDLE_GRACE_MS;
  }

  private get reserveMiB(): number {
    return Math.round(this.deps.config.gpu.reserveGiB * 1024);
  }

  /**
   * GPUs as placement sees them now; memory of processes the gateway does not manage counts as
   * other. null while the first reading is being taken.
   */
  private placementGpusNow(): PlacementGpu[] | null {
    const probe = this.deps.gpu;
    if (!probe) return [];
    const snap = probe.state().snapshot;
    if (snap) return this.placementGpusFrom(snap);
    if (this.gpuRefreshTried) return [];
    if (!this.gpuRefresh) {
      this.gpuRefresh = probe
        .refresh()
        .catch(() => null)
        .finally(() => {
          this.gpuRefresh = null;
          this.gpuRefreshTried = true;
          this.settleSoon();
        });
    }
    return null;
  }

  private placementGpusFrom(snap: GpuSnapshot): PlacementGpu[] {
    const attribution = attributeGpuMemory(snap, this.managedModels());
    const now = this.now();
    return snap.gpus.map((g, i) => ({
      index: g.index,
      totalMiB: g.totalMiB,
      reservedMiB: g.reservedMiB,
      otherMiB: this.ledger.otherMiB(g.index, attribution.gpus[i].otherMiB, snap.at, now),
    }));
  }

  /** For reconciliation, which may run before any reading exists. */
  private async placementGpus(): Promise<PlacementGpu[]> {
    const probe = this.deps.gpu;
    if (!probe) return [];
    const snap = probe.state().snapshot ?? (await probe.refresh().catch(() => null));
    return snap ? this.placementGpusFrom(snap) : [];
  }

  /**
   * The managed models as GPU attribution sees them. PIDs of servers stopped in the last few
   * seconds are included (as a model holding nothing): see memory-ledger.ts.
   */
  managedModels(includeReleasing = true): Map<string, ManagedModel> {
    const out = new Map<string, ManagedModel>();
    for (const e of this.entries.values()) {
      if (e.config.runtime === 'remote') continue;
      // On a GPU nothing measures, a sleeper is shown holding its residue (sleep.residualGiB).
      const budgetMiB = e.holdsGpu && !e.holdsBudget ? sleepResidualMiB(e.config as LocalModelConfig) : e.budgetMiB;
      out.set(e.id, { pids: e.pids, gpus: e.gpuIndices, budgetMiB, active: e.holdsGpu });
    }
    if (includeReleasing) {
      const releasing = this.ledger.releasingPids(this.now());
      if (releasing.size > 0) out.set('\0releasing', { pids: releasing, gpus: [], budgetMiB: 0, active: false });
    }
    return out;
  }

  /** After an eviction vLLM needs the memory really free: poll until measured free (P11). */
  private async waitForMeasuredRelease(gpuIndices: number[], budgetMiB: number, signal: AbortSignal): Promise<void> {
    const probe = this.deps.gpu;
    if (!probe || !probe.state().snapshot?.measured) return;
    const until = this.now() + MEASURED_RELEASE_TIMEOUT_MS;
    for (;;) {
      const snap = await probe.refresh().catch(() => null);
      if (!snap) return;
      const short = gpuIndices.some((i) => {
        const g = snap.gpus.find((x) => x.index === i);
        return g !== undefined && g.freeMiB - this.reserveMiB < budgetMiB;
      });
      if (!short || signal.aborted) return;
      if (this.now() >= until) {
        this.deps.log.warn({ gpuIndices, budgetMiB }, 'GPU memory not measured free after eviction; starting anyway');
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async onGpuReading(snap: GpuSnapshot): Promise<void> {
    if (!snap.measured) return;
    await Promise.all(
      [...this.entries.values()].map(async (e) => {
        e.pids = e.instance ? new Set(await e.instance.pids().catch(() => [])) : new Set();
      }),
    );
    this.changed(); // the status document attributes memory from these PIDs and the probe's reading
  }

  // ---------------------------------------------------------------- stop

  /** Evict for a waiting start. A yielding model keeps its queue, and starts again for it after. */
  private evict(entry: ModelEntry): void {
    this.evictions += 1;
    const yielded = entry.yieldingTo !== null;
    void this.stop(entry, yielded ? 'yielded' : 'evicted', new GatewayError('model_stopped', `${entry.id} was evicted`), {
      keepQueue: yielded,
    }).then(() => {
      if (entry.queue.queued > 0 && !this.shuttingDown) this.ensureStarted(entry).catch(() => {});
    });
  }

  /** Stop a model: abandon its start if one is running, cut or reject what remains, stop the server. */
  private stop(entry: ModelEntry, why: string, cut: GatewayError, opts: { keepQueue?: boolean } = {}): Promise<void> {
    if (entry.stopPromise) return entry.stopPromise;
    entry.stopPromise = (async () => {
      this.clearIdleTimer(entry);
      if (entry.startPromise) {
        entry.startAbort?.abort(cut);
        await entry.startPromise.catch(() => {});
      }
      if (!opts.keepQueue) entry.queue.rejectWaiting(cut);
      entry.queue.cutInFlight(cut);
      const instance = entry.instance;
      if (!instance || !(entry.state === 'ready' || entry.state === 'sleeping' || entry.state === 'waking')) return;
      this.deps.log.info({ model: entry.id, why, asleep: entry.state !== 'ready' }, 'stopping model');
      await this.stopServer(entry, instance, null);
    })().finally(() => {
      entry.stopPromise = null;
    });
    return entry.stopPromise;
  }

  /** A server that dies on its own: while serving → stopped, requests cut (P12); the next request restarts it. */
  private watchExit(entry: ModelEntry, instance: Instance): void {
    void instance.exited.then((info) => {
      // start, wake and stop paths handle the rest
      if (info.requested || entry.instance !== instance || !(entry.state === 'ready' || entry.state === 'sleeping')) return;
      this.deps.log.warn({ model: entry.id, reason: info.reason }, 'model server exited while serving');
      this.noteReleasing(entry);
      entry.serverGone(`The model server ${info.reason}${info.oomKilled ? ' (out of memory)' : ''}`, this.now());
      entry.queue.cutInFlight(
        new GatewayError('upstream_error', `The model server for ${entry.id} ${info.reason} while serving this request`),
      );
      if (entry.queue.queued > 0) this.ensureStarted(entry).catch(() => {});
    });
  }

  /** The server is gone: what it measured on its GPUs, and its PIDs, are on their way out. */
  private noteReleasing(entry: ModelEntry): void {
    const snap = this.deps.gpu?.state().snapshot;
    const held: Array<{ gpu: number; heldMiB: number; otherMiB: number }> = [];
    const now = this.now();
    if (snap?.measured && entry.pids.size > 0) {
      const attribution = attributeGpuMemory(snap, this.managedModels());
      snap.gpus.forEach((g, i) => {
        const heldMiB = attribution.gpus[i].models.find((m) => m.id === entry.id)?.usedMiB ?? 0;
        if (heldMiB <= 0) return;
        held.push({ gpu: g.index, heldMiB, otherMiB: this.ledger.otherMiB(g.index, attribution.gpus[i].otherMiB, snap.at, now) });
      });
    }
    this.ledger.noteStopped(held, entry.pids, now);
  }

  // ---------------------------------------------------------------- idle

  private clearIdleTimer(entry: ModelEntry): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = null;
  }

  private idleDue(entry: ModelEntry): number | null {
    return idleStopAt(entry.idleFacts);
  }

  /**
   * Stop after ttlSeconds with nothing in flight or queued (P10: never while busy). One timer per
   * model at most: it is armed when the model goes idle and, when it fires, re-checks use and
   * re-arms itself for the remaining time, so busy traffic costs no timer operations.
   */
  private armIdleTimer(entry: ModelEntry): void {
    if (entry.idleTimer) return;
    const due = this.idleDue(entry);
    if (due === null) return;
    entry.idleTimer = setTimeout(
      () => {
        entry.idleTimer = null;
        const at = this.idleDue(entry);
        if (at === null) return; // re-armed when it goes idle
        if (at > this.now() + 5) return this.armIdleTimer(entry);
        void this.stop(entry, 'idle', new GatewayError('model_stopped', `${entry.id} stopped for idleness`));
      },
      // A deadline past a timer's reach (a keep_alive of "720h") is approached in steps: the
      // callback above re-arms for what is left. Node turns a longer delay into 1 ms.
      Math.min(MAX_TIMER_MS, Math.max(0, due - this.now())),
    );
    entry.idleTimer.unref();
  }

  // ---------------------------------------------------------------- lifecycle of the scheduler

  /**
   * Adopt servers still running from an earlier gateway (P14), then start preload models. A runtime
   * that cannot be asked yet (Docker not running) does not fail start-up: it is asked again in the
   * background until it answers, and its models' starts wait for that answer (so that nothing is
   * started beside a server that should have been adopted).
   */
  async init(): Promise<void> {
    if (this.deps.hostRamTotalMiB && this.deps.config.scheduling?.sleepHostRamGiB === 'auto') {
      const total = await this.deps.hostRamTotalMiB().catch(() => null);
      if (total && total > 0) this.hostRamBudgetMiB = sleepHostRamBudgetMiB(this.deps.config, total);
    }
    for (const runtime of Object.values(this.deps.runtimes)) {
      if (!runtime?.reconcile) continue;
      try {
        await this.reconcile(runtime);
      } catch (err) {
        const msg = (err as Error).message;
        this.deps.log.warn({ runtime: runtime.kind, err: msg }, 'could not look for running model servers; retrying in the background');
        this.unreconciled.add(runtime.kind);
        void this.retryReconcile(runtime);
      }
    }
    for (const e of this.entries.values()) {
      if (e.config.preload && e.config.runtime !== 'remote') {
        this.load(e).catch((err: Error) => this.deps.log.warn({ model: e.id, err: err.message }, 'preload failed'));
      }
    }
  }

  /** Lists the runtime's servers still running, adopts those that match, lets it remove the rest. */
  private reconcile(runtime: Runtime): Promise<void> {
    const running = this.reconciling.get(runtime.kind);
    if (running) return running;
    const p = (async () => {
      const gpus = await this.placementGpus();
      const models = [...this.entries.values()]
        .filter((e) => e.config.runtime === runtime.kind)
        .map((e) => {
          const c = e.config as LocalModelConfig;
          const indices = c.gpus === 'auto' ? [gpus[0]?.index ?? 0] : c.gpus;
          const utilizationOn = (on: readonly number[]) => {
            const totals = on.map((i) => gpus.find((g) => g.index === i)?.totalMiB ?? 0).filter((t) => t > 0);
            return totals.length ? gpuMemoryUtilization(c.vramGiB, Math.min(...totals)) : 0.9;
          };
          return { model: c, gpuIndices: indices, gpuMemoryUtilization: utilizationOn(indices), utilizationOn };
        });
      const adopted = await runtime.reconcile!(models);
      this.unreconciled.delete(runtime.kind);
      for (const [id, instance] of adopted) {
        const entry = this.entries.get(id);
        if (!entry || !['stopped', 'starting', 'failed'].includes(entry.state)) continue;
        const m = models.find((x) => x.model.id === id)!;
        const level = sleepLevel(entry.config);
        const asleepAt = level > 0 ? await this.sleepingLevelOf(instance, level === 2 ? 2 : 1) : null;
        if (!['stopped', 'starting', 'failed'].includes(entry.state)) continue;
        // Booked where it really runs: the instance knows the GPUs it was given.
        if (asleepAt !== null) {
          entry.adoptedAsleep(instance, instance.gpuIndices ?? m.gpuIndices, asleepAt, this.now());
          this.watchExit(entry, instance);
          this.armIdleTimer(entry);
          this.deps.log.info(
            { model: id, endpoint: instance.endpoint, gpus: entry.gpuIndices, level: asleepAt },
            'adopted sleeping model server',
          );
          continue;
        }
        entry.becameReady(instance, instance.gpuIndices ?? m.gpuIndices, this.now());
        this.watchExit(entry, instance);
        this.armIdleTimer(entry);
        this.deps.log.info({ model: id, endpoint: instance.endpoint, gpus: entry.gpuIndices }, 'adopted running model server');
        this.grant(entry);
      }
    })().finally(() => {
      this.reconciling.delete(runtime.kind);
    });
    this.reconciling.set(runtime.kind, p);
    return p;
  }

  /**
   * Whether an adopted server sleeps (GET /is_sleeping), and at which level: vLLM's
   * vllm:engine_sleep_state tells (weights_offloaded = 1, discard_all = 2); without it, the
   * configured level. Null when it is awake or cannot say (then it is adopted as ready).
   */
  private async sleepingLevelOf(instance: Instance, configured: 1 | 2): Promise<1 | 2 | null> {
    const asleep = await isSleeping(instance.endpoint, { timeoutMs: 2000 }).catch(() => null);
    if (asleep !== true) return null;
    const text = await fetch(`${instance.endpoint}/metrics`, { signal: AbortSignal.timeout(2000) })
      .then((r) => (r.ok ? r.text() : ''))
      .catch(() => '');
    const on = (state: string) => new RegExp(`^vllm:engine_sleep_state\\{[^}]*sleep_state="${state}"[^}]*\\} 1(\\.0)?$`, 'm').test(text);
    if (on('discard_all')) return 2;
    if (on('weights_offloaded')) return 1;
    return configured;
  }

  private async retryReconcile(runtime: Runtime): Promise<void> {
    for (let attempt = 0; this.unreconciled.has(runtime.kind) && !this.shuttingDown; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(1000, 250 * 2 ** attempt)).unref());
      if (!this.unreconciled.has(runtime.kind) || this.shuttingDown) return;
      await this.reconcile(runtime).catch(() => {});
    }
  }

  /** True while a runtime's start-up reconciliation still waits for the runtime to answer (for /ready). */
  get reconcilePending(): boolean {
    return this.unreconciled.size > 0;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Ends shutdown()'s drain now (a second Quit or signal): in-flight requests are cut, and the
   * models are still stopped as configured. Before shutdown() it makes the drain zero.
   */
  endDrain(): void {
    this.drainCut = true;
    this.changed();
  }

  /** Graceful shutdown (P13): refuse new work, drain up to drainMs, cut the rest, stop models. */
  async shutdown(drainMs: number, stopModels: boolean): Promise<void> {
    this.shuttingDown = true;
    const bye = new GatewayError('shutting_down', 'The gateway is shutting down');
    for (const e of this.entries.values()) {
      this.clearIdleTimer(e);
      e.queue.rejectWaiting(bye);
      if (e.startPromise) e.startAbort?.abort(bye);
    }
    const deadline = this.now() + drainMs;
    while (!this.drainCut && [...this.entries.values()].some((e) => e.queue.inFlight.size > 0) && this.now() < deadline) {
      await this.nextChange(Math.min(200, deadline - this.now()));
    }
    for (const e of this.entries.values()) e.queue.cutInFlight(bye);
    await Promise.all([...this.entries.values()].map((e) => e.startPromise?.catch(() => {})));
    if (stopModels) await Promise.all([...this.entries.values()].map((e) => this.stop(e, 'shutdown', bye)));
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.unsubscribeGpu?.();
  }
}

/** The state now (a call, so that TypeScript does not carry a narrowing across an await). */
const stateOf = (e: ModelEntry): ModelState => e.state;

/** What a wake step shows in the status document's progress. */
const WAKE_STEPS: Record<WakeStep, string> = {
  wake: 'waking from sleep',
  weights: 'waking the weights',
  reload: 'reloading the weights',
  kv_cache: 'waking the KV cache',
  confirm: 'confirming the wake',
};

function toStartError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new GatewayError('model_start_failed', `The model failed to start: ${msg}`, { cause: err });
}

/** The wait for GPU memory held by busy models outlasted `limits.queueTimeoutSeconds`. */
function memoryWaitTimedOut(id: string, timeoutS: number, why: string): GatewayError {
  return new GatewayError('queue_timeout', `Waited ${timeoutS} s for GPU memory for ${id}: ${why}`);
}

/** A start or wake that got no GPU memory (refused, or its wait timed out): no cool-down, no failure. */
function isNoRoom(err: unknown): err is GatewayError {
  return err instanceof GatewayError && (err.code === 'insufficient_vram' || err.code === 'queue_timeout');
}
