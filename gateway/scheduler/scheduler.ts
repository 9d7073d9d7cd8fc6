// The scheduler: the coordinator that carries out decisions about models. Callers ask `admit()`,
// `release()`, `load()`, `unload()` or `sleep()`; they never read a state and act on it. It owns
// the models' entries and runs starts and stops; the rest is in collaborators beside it: the line
// for GPU memory (memory-line.ts, deciding through memory-turns.ts over placement.ts), sleep and
// wake (sleep-wake.ts), the GPUs as it sees them (gpu-view.ts, with memory-ledger.ts), adoption at
// start-up (adoption.ts), idle stops (idle-timers.ts over idle-policy.ts), the lifecycle's allowed
// transitions (model-transitions.ts), admission (model-queue.ts). See design.md.

import { EventEmitter } from 'node:events';
import os from 'node:os';
import { sleepHostRamBudgetMiB } from '../config/sleep-config.js';
import type { GatewayConfig, LocalModelConfig } from '../config/types.js';
import { GatewayError } from '../errors.js';
import type { ManagedModel } from '../gpu/attribution.js';
import type { GpuProbe } from '../gpu/probe.js';
import type { AbortLike } from '../proxy/cancel.js';
import type { ProgressSnapshot } from '../proxy/progress-comments.js';
import type { Instance, Runtime } from '../runtimes/runtime.js';
import { waitHealthy } from '../runtimes/wait-healthy.js';
import type { GatewayLogger } from '../logger.js';
import { Adoption } from './adoption.js';
import { GpuView } from './gpu-view.js';
import { IdleTimers } from './idle-timers.js';
import { MemoryLine, isNoRoom, memoryWaitTimedOut } from './memory-line.js';
import { ModelEntry, coolDownMs } from './model-entry.js';
import type { Lease } from './model-queue.js';
import { SleepWake } from './sleep-wake.js';

export interface SchedulerDeps {
  config: GatewayConfig;
  runtimes: Partial<Record<'docker' | 'process', Runtime>>;
  gpu: GpuProbe | null;
  log: GatewayLogger;
  now?: () => number;
  /** The host's total RAM in MiB, for `scheduling.sleepHostRamGiB: auto` (systeminformation; tests inject). */
  hostRamTotalMiB?: () => Promise<number>;
}

const STOP_GRACE_MS = 10_000;

export class Scheduler extends EventEmitter {
  readonly entries = new Map<string, ModelEntry>();
  private readonly byName = new Map<string, ModelEntry>();
  private readonly now: () => number;
  private shuttingDown = false;
  private drainCut = false;
  private readonly changeWaiters = new Set<() => void>();
  private readonly gpuView: GpuView;
  private readonly line: MemoryLine;
  private readonly sleepWake: SleepWake;
  private readonly adoption: Adoption;
  private readonly idle: IdleTimers;
  evictions = 0;
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
    this.hostRamBudgetMiB = sleepHostRamBudgetMiB(deps.config, Math.round(os.totalmem() / 1024 / 1024));
    const { config, log } = deps;
    const models = this.entries;
    const now = this.now;
    const hostRamBudgetMiB = () => this.hostRamBudgetMiB;
    this.gpuView = new GpuView({
      gpu: deps.gpu,
      models,
      now,
      reserveMiB: Math.round(config.gpu.reserveGiB * 1024),
      log,
      onFirstReading: () => this.line.settleSoon(),
      onPidsRead: () => this.changed(),
    });
    this.idle = new IdleTimers(now, (entry) => {
      void this.stop(entry, 'idle', new GatewayError('model_stopped', `${entry.id} stopped for idleness`));
    });
    this.line = new MemoryLine({
      config,
      models,
      gpus: this.gpuView,
      hostRamBudgetMiB,
      now,
      log,
      act: {
        grant: (e) => this.grant(e),
        putToSleep: (e, why) => void this.sleepWake.putToSleep(e, why),
        evict: (e) => this.evict(e),
      },
    });
    this.sleepWake = new SleepWake({
      config,
      models,
      now,
      log,
      gpus: this.gpuView,
      line: this.line,
      idle: this.idle,
      hostRamBudgetMiB,
      act: {
        stop: (e, why, cut) => this.stop(e, why, cut),
        stopServer: (e, instance, error) => this.stopServer(e, instance, error),
        startCold: (e) => this.runStart(e),
        resumeForQueue: (e) => this.resumeForQueue(e),
        grant: (e) => this.grant(e),
        emit: (event, id) => this.emit(event, id),
      },
    });
    this.adoption = new Adoption({
      models,
      gpus: this.gpuView,
      now,
      log,
      isShuttingDown: () => this.shuttingDown,
      adopted: (entry, instance) => {
        this.watchExit(entry, instance);
        this.idle.arm(entry);
        this.grant(entry);
      },
    });
  }

  /** The model a request names (id or alias), or undefined. */
  resolve(name: string): ModelEntry | undefined {
    return this.byName.get(name);
  }

  /** Servers put to sleep since the gateway started. */
  get sleeps(): number {
    return this.sleepWake.sleeps;
  }

  /** Servers woken since the gateway started. */
  get wakes(): number {
    return this.sleepWake.wakes;
  }

  private changed(): void {
    this.emit('change');
    for (const wake of this.changeWaiters) wake();
    this.changeWaiters.clear();
    this.line.changed();
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
      this.idle.arm(entry);
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
    this.idle.rearm(entry);
    this.changed();
  }

  /** Called by the proxy when a lease ends: records use, hands the slot on, arms the idle timer. */
  release(entry: ModelEntry, lease: Lease): void {
    lease.release();
    entry.noteUsed(this.now());
    this.grant(entry);
    this.idle.arm(entry);
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
    this.idle.arm(entry);
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
  sleep(entry: ModelEntry): Promise<void> {
    return this.sleepWake.sleepByHand(entry);
  }

  // ---------------------------------------------------------------- start

  private ensureStarted(entry: ModelEntry): Promise<void> {
    if (entry.config.runtime === 'remote' || entry.state === 'ready') return Promise.resolve();
    if (!entry.startPromise) {
      const run = entry.state === 'sleeping' ? this.sleepWake.wake(entry) : this.runStart(entry);
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
      if (this.adoption.pendingFor(runtime.kind)) {
        await this.adoption.reconcile(runtime); // throws while the runtime still cannot be asked
        if (entry.state === 'ready') return; // adopted
        if (entry.state === 'sleeping') return await this.sleepWake.wake(entry); // adopted asleep
      }
      const placement = await this.line.waitForMemory(entry, ac.signal);
      const placedAt = this.now();
      await this.gpuView.waitForMeasuredRelease(placement.gpuIndices, entry.budgetMiB, ac.signal);
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

  /** The stop itself: stopping, the server stopped, stopped (with `error` when it is worth showing). */
  private async stopServer(entry: ModelEntry, instance: Instance, error: string | null): Promise<void> {
    entry.beginStop(this.now());
    await instance.stop(STOP_GRACE_MS).catch((err: Error) => this.deps.log.error({ model: entry.id, err: err.message }, 'stop failed'));
    this.gpuView.noteReleasing(entry);
    entry.serverGone(error, this.now());
  }

  // ---------------------------------------------------------------- stop

  /** Evict for a waiting start. A yielding model keeps its queue, and starts again for it after. */
  private evict(entry: ModelEntry): void {
    this.evictions += 1;
    const yielded = entry.yieldingTo !== null;
    void this.stop(entry, yielded ? 'yielded' : 'evicted', new GatewayError('model_stopped', `${entry.id} was evicted`), {
      keepQueue: yielded,
    }).then(() => this.resumeForQueue(entry));
  }

  /** Start (or wake) a model again for the requests waiting for it, unless the gateway is shutting down. */
  private resumeForQueue(entry: ModelEntry): void {
    if (entry.queue.queued > 0 && !this.shuttingDown) this.ensureStarted(entry).catch(() => {});
  }

  /** Stop a model: abandon its start if one is running, cut or reject what remains, stop the server. */
  private stop(entry: ModelEntry, why: string, cut: GatewayError, opts: { keepQueue?: boolean } = {}): Promise<void> {
    if (entry.stopPromise) return entry.stopPromise;
    entry.stopPromise = (async () => {
      this.idle.clear(entry);
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
      this.gpuView.noteReleasing(entry);
      entry.serverGone(`The model server ${info.reason}${info.oomKilled ? ' (out of memory)' : ''}`, this.now());
      entry.queue.cutInFlight(
        new GatewayError('upstream_error', `The model server for ${entry.id} ${info.reason} while serving this request`),
      );
      if (entry.queue.queued > 0) this.ensureStarted(entry).catch(() => {});
    });
  }

  // ---------------------------------------------------------------- GPU memory, as the status document sees it

  /** GPU memory the model holds now on each of its GPUs: its budget, or a sleeper's residue. */
  heldMiB(entry: ModelEntry): number {
    return this.gpuView.heldMiB(entry);
  }

  /** The managed models as GPU attribution sees them (the status document's too). */
  managedModels(includeReleasing = true): Map<string, ManagedModel> {
    return this.gpuView.managedModels(includeReleasing);
  }

  // ---------------------------------------------------------------- lifecycle of the scheduler

  /**
   * Adopt servers still running from an earlier gateway (P14, adoption.ts), then start preload
   * models. A runtime that cannot be asked yet does not fail start-up: it is asked again in the
   * background, and its models' starts wait for that answer.
   */
  async init(): Promise<void> {
    if (this.deps.hostRamTotalMiB && this.deps.config.scheduling?.sleepHostRamGiB === 'auto') {
      const total = await this.deps.hostRamTotalMiB().catch(() => null);
      if (total && total > 0) this.hostRamBudgetMiB = sleepHostRamBudgetMiB(this.deps.config, total);
    }
    await this.adoption.adoptAll(Object.values(this.deps.runtimes));
    for (const e of this.entries.values()) {
      if (e.config.preload && e.config.runtime !== 'remote') {
        this.load(e).catch((err: Error) => this.deps.log.warn({ model: e.id, err: err.message }, 'preload failed'));
      }
    }
  }

  /**
   * Adopt what `runtime` finds running, as at start-up (a remote host that came back, docs/hosts.md):
   * its servers of models that are stopped or failed become theirs.
   */
  adoptFrom(runtime: Runtime): Promise<void> {
    return this.adoption.reconcile(runtime);
  }

  /** True while a runtime's start-up reconciliation still waits for the runtime to answer (for /ready). */
  get reconcilePending(): boolean {
    return this.adoption.pending;
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
      this.idle.clear(e);
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
    this.line.close();
    this.gpuView.close();
  }
}

function toStartError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new GatewayError('model_start_failed', `The model failed to start: ${msg}`, { cause: err });
}
