// The scheduler: the coordinator that carries out decisions about models. Callers ask `admit()`,
// `release()`, `load()`, `unload()` or `sleep()`; they never read a state and act on it. It owns
// the models' entries and is the only one to change them: every lifecycle change is an event it
// applies (`post`, through lifecycle.ts's reducer) and whose effects it carries out; everything
// done to a server goes through Effects (effects.ts). The rest is in collaborators beside it,
// which post events or return decisions: the line for GPU memory (memory-line.ts, deciding through
// memory-turns.ts over placement.ts), sleep and wake (sleep-wake.ts), the GPUs as it sees them
// (gpu-view.ts, with memory-ledger.ts), adoption at start-up (adoption.ts), idle stops
// (idle-timers.ts over idle-policy.ts), admission (admission.ts's rule over model-queue.ts). See design.md.

import { EventEmitter } from 'node:events';
import os from 'node:os';
import { sleepHostRamBudgetMiB } from '../config/sleep-config.js';
import type { GatewayConfig, LocalModelConfig } from '../config/types.js';
import { errors, GatewayError } from '../errors.js';
import type { ManagedModel } from '../gpu/attribution.js';
import type { GpuProbe } from '../gpu/probe.js';
import type { AbortLike } from '../proxy/cancel.js';
import type { ProgressSnapshot } from '../proxy/progress-comments.js';
import type { Instance, Runtime } from '../runtimes/runtime.js';
import type { GatewayLogger } from '../logger.js';
import { Adoption } from './adoption.js';
import { decideAdmission, startRefusal, type Admission, type AdmissionFacts } from './admission.js';
import { serverEffects, type Effects } from './effects.js';
import { GpuView } from './gpu-view.js';
import { IdleTimers } from './idle-timers.js';
import { ADOPTABLE, IllegalEvent, coolDownMs, serving, type LifecycleEffect, type LifecycleEvent } from './lifecycle.js';
import { MemoryLine, isNoRoom } from './memory-line.js';
import { ModelEntry } from './model-entry.js';
import type { Lease } from './model-queue.js';
import type { Priority } from './priority.js';
import { SleepWake } from './sleep-wake.js';

export interface SchedulerDeps {
  config: GatewayConfig;
  runtimes: Partial<Record<'docker' | 'process', Runtime>>;
  gpu: GpuProbe | null;
  log: GatewayLogger;
  now?: () => number;
  /** The host's total RAM in MiB, for `scheduling.sleepHostRamGiB: auto` (systeminformation; tests inject). */
  hostRamTotalMiB?: () => Promise<number>;
  /** What is done to servers (tests fake it); default: the runtimes and their instances. */
  effects?: Effects;
}

/** A start or a wake under way: shared by every caller (P15), abandoned through `abort`. */
interface StartWork {
  done: Promise<void>;
  abort: AbortController;
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
  private readonly effects: Effects;
  /** Starts (and wakes) under way, and stops under way: the coordinator's handles to await, not state. */
  private readonly starts = new Map<ModelEntry, StartWork>();
  private readonly stops = new Map<ModelEntry, Promise<void>>();
  evictions = 0;
  /** Host RAM all level-1 sleepers may hold together; `auto` is settled from the host's RAM at init(). */
  private hostRamBudgetMiB: number;

  constructor(private readonly deps: SchedulerDeps) {
    super();
    this.now = deps.now ?? Date.now;
    this.effects = deps.effects ?? serverEffects;
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
      effects: this.effects,
      onFirstReading: () => this.line.settleSoon(),
      onPidsRead: () => this.changed(),
    });
    this.idle = new IdleTimers(now, (entry) => {
      void this.stop(entry, 'idle', errors.stoppedIdle(entry.id));
    });
    this.line = new MemoryLine({
      config,
      models,
      gpus: this.gpuView,
      hostRamBudgetMiB,
      now,
      log,
      act: {
        post: (e, event) => this.post(e, event),
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
      effects: this.effects,
      hostRamBudgetMiB,
      act: {
        post: (e, event) => this.post(e, event),
        stop: (e, why, cut) => this.stop(e, why, cut),
        stopServer: (e, instance, begun, error) => this.stopServer(e, instance, begun, error),
        startCold: (e, signal) => this.runStart(e, signal),
        rejectWaiting: (e, err) => e.queue.rejectWaiting(err),
        resumeForQueue: (e) => this.resumeForQueue(e),
      },
    });
    this.adoption = new Adoption({
      models,
      gpus: this.gpuView,
      log,
      isShuttingDown: () => this.shuttingDown,
      effects: this.effects,
      adopt: (entry, instance, gpuIndices, level) => {
        if (!ADOPTABLE.includes(entry.phase)) return false;
        this.post(
          entry,
          level === null ? { type: 'adopted', instance, gpuIndices } : { type: 'adoptedAsleep', instance, gpuIndices, level },
        );
        return true;
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

  /**
   * Apply a lifecycle event to a model and carry out its effects: the one place model state is
   * written. An event its phase does not allow is a scheduler bug (IllegalEvent), logged and thrown.
   */
  private post(entry: ModelEntry, event: LifecycleEvent): void {
    let effects: LifecycleEffect[];
    try {
      effects = entry.apply(event, this.now());
    } catch (err) {
      if (err instanceof IllegalEvent) this.deps.log.error({ model: entry.id, event: event.type, phase: err.phase }, err.message);
      throw err;
    }
    for (const effect of effects) this.carryOut(entry, effect);
  }

  private carryOut(entry: ModelEntry, effect: LifecycleEffect): void {
    switch (effect.kind) {
      case 'grant':
        return this.grant(entry);
      case 'armIdle':
        return this.idle.arm(entry);
      case 'clearIdle':
        return this.idle.clear(entry);
      case 'watchExit':
        return this.watchExit(entry, effect.instance);
      case 'rejectWaiting':
        return entry.queue.rejectWaiting(effect.error);
      case 'cutInFlight':
        return entry.queue.cutInFlight(effect.error);
      case 'resumeForQueue':
        return this.resumeForQueue(entry);
    }
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
    return serving(entry.phase);
  }

  private grant(entry: ModelEntry): void {
    if (this.serving(entry)) this.effects.grant(entry.queue);
  }

  // ---------------------------------------------------------------- admission

  /**
   * Admit a request: join the model's queue (429 when full), wait for the model to be ready and
   * for a slot, in its class's lane (FIFO within it), at most queueTimeoutSeconds. `signal` is the client going away: the
   * request leaves the queue at once (P5). Resolves with a lease to release in a `finally`.
   * `priority`: its lane in the queue (interactive ones are admitted first, priority.ts).
   */
  async admit(entry: ModelEntry, requestId: string, signal: AbortLike, priority: Priority = 'interactive'): Promise<Lease> {
    const admission = decideAdmission(this.admissionFacts(entry, priority, signal.aborted));
    if (admission.kind === 'refuse') throw admission.error;
    if (admission.kind === 'now') return entry.queue.leaseNow(requestId, priority);
    const ticket = entry.queue.enqueue(requestId, priority, admission.displaced);
    const timeoutS = this.deps.config.limits.queueTimeoutSeconds;
    // insufficient_vram is answered at once, only when the model can never fit (docs/scheduling.md);
    // a request that waited out the queue timeout for memory held by busy models is a queue timeout,
    // whose message says what it waited for.
    const timer = setTimeout(
      () =>
        ticket.cancel(
          entry.vramWait !== null ? errors.memoryWaitTimedOut(entry.id, timeoutS, entry.vramWait) : errors.queueTimeout(entry.id, timeoutS),
        ),
      timeoutS * 1000,
    );
    const onAbort = () => ticket.cancel(errors.clientGoneWaiting());
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

  /**
   * What admit() would do with a request for this model now: refuse it (and with which error),
   * serve it at once, or queue it. The HTTP side asks before it commits to a kind of answer.
   */
  admission(entry: ModelEntry, priority: Priority = 'interactive'): Admission {
    return decideAdmission(this.admissionFacts(entry, priority, false));
  }

  private admissionFacts(entry: ModelEntry, priority: Priority, clientGone: boolean): AdmissionFacts {
    const { queue, config } = entry;
    return {
      id: entry.id,
      phase: entry.phase,
      coolDownUntil: entry.coolDownUntil,
      error: entry.error,
      queued: queue.queued,
      batchQueued: queue.waiting.sizeOf('batch'),
      priority,
      inFlight: queue.inFlight.size,
      maxQueue: config.maxQueue,
      maxConcurrent: config.maxConcurrent,
      shuttingDown: this.shuttingDown,
      clientGone,
      now: this.now(),
    };
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
   * from when that request is admitted until another one with a keep_alive is, or the server stops
   * (the proxy calls this on admission: the last scheduled wins, as in Ollama's sched.go). 0 stops
   * the model as soon as it is idle (unless pinned).
   */
  setKeepAlive(entry: ModelEntry, seconds: number | null): void {
    if (!entry.keepAlive(seconds)) return;
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

  // ---------------------------------------------------------------- load / unload (admin)

  /**
   * Start a model and wait until it is ready (or failed). `signal`: the caller went away (an Ollama
   * load-only request whose client left): it stops waiting at once and no longer counts as wanting
   * the start, so a start still waiting for memory that nobody else wants is given up, as for a
   * request that leaves the queue (P5), rather than evicting a model later for it.
   */
  async load(entry: ModelEntry, signal?: AbortLike, priority: Priority = 'interactive'): Promise<void> {
    const refused = startRefusal(this.admissionFacts(entry, priority, false));
    if (refused) throw refused;
    if (signal?.aborted) throw errors.clientGoneWaiting();
    entry.countExplicitStart(1, priority);
    try {
      await (signal ? untilAborted(this.ensureStarted(entry), signal) : this.ensureStarted(entry));
    } finally {
      entry.countExplicitStart(-1, priority);
      this.changed(); // a start that waits for memory may now be wanted by nobody
    }
    this.idle.arm(entry);
  }

  /** Stop a model; 409 model_busy when it has requests unless `force` (they then end with 503). */
  async unload(entry: ModelEntry, force: boolean): Promise<void> {
    if (entry.config.runtime === 'remote') return;
    if (entry.queue.busy && !force) {
      throw errors.busyForUnload(entry.id, entry.queue.inFlight.size, entry.queue.queued);
    }
    const cut = errors.unloaded(entry.id);
    await this.stop(entry, 'unloaded', cut);
    // A failed model that is unloaded forgets its failure (the user acknowledged it).
    if (entry.state === 'failed') this.post(entry, { type: 'failureForgotten' });
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
    let work = this.starts.get(entry);
    if (!work) {
      const abort = new AbortController();
      const run = entry.state === 'sleeping' ? this.sleepWake.wake(entry, abort.signal) : this.runStart(entry, abort.signal);
      const w: StartWork = {
        abort,
        done: run.finally(() => {
          if (this.starts.get(entry) === w) this.starts.delete(entry);
        }),
      };
      this.starts.set(entry, w);
      work = w;
    }
    return work.done;
  }

  private async runStart(entry: ModelEntry, signal: AbortSignal): Promise<void> {
    const stopping = this.stops.get(entry);
    if (stopping) await stopping; // a start waits for the stop it races with
    const config = entry.config as LocalModelConfig;
    const runtime = this.deps.runtimes[config.runtime];
    this.post(entry, { type: 'startBegun' });
    const startedAt = this.now();
    try {
      if (!runtime) throw errors.noRuntime(config.runtime);
      // throws while the runtime still cannot be asked
      if (this.adoption.pendingFor(runtime.kind)) await this.adoption.reconcile(runtime);
    } catch (raw) {
      return this.startEnded(entry, raw, signal, null);
    }
    if (entry.state === 'ready') return; // adopted
    if (entry.state === 'sleeping') return this.sleepWake.wake(entry, signal); // adopted asleep
    let instance: Instance | null = null;
    try {
      const placement = await this.line.waitForMemory(entry, signal);
      const placedAt = this.now();
      await this.gpuView.waitForMeasuredRelease(placement.gpuIndices, entry.budgetMiB, signal);
      this.post(entry, { type: 'progress', progress: { phase: 'loading', percent: null, message: 'starting the server' } });
      instance = await this.effects.start(runtime!, {
        model: config,
        gpuIndices: placement.gpuIndices,
        gpuMemoryUtilization: placement.utilization,
        signal,
        onPhase: (phase) => {
          if (!signal.aborted) this.post(entry, { type: phase === 'pulling' ? 'pullBegun' : 'loadBegun' });
        },
        onProgress: (progress) => {
          if (!signal.aborted) this.post(entry, { type: 'progress', progress });
        },
      });
      this.post(entry, { type: 'serverCreated', instance });
      this.watchExit(entry, instance);
      if (entry.state !== 'starting') this.post(entry, { type: 'loadBegun' });
      await this.effects.waitHealthy(instance, {
        healthPath: config.healthPath,
        timeoutMs: this.deps.config.timeouts.startSeconds * 1000,
        signal,
      });
      // Logged (synchronously, see cli-log-destination.ts) before the state that lets requests in.
      // ms: since the start was asked for (its turn for memory included); startMs: the server's own start.
      const now = this.now();
      this.deps.log.info({ model: entry.id, ms: now - startedAt, startMs: now - placedAt, endpoint: instance.endpoint }, 'model ready');
      this.post(entry, { type: 'startFinished', instance, gpuIndices: placement.gpuIndices });
    } catch (raw) {
      return this.startEnded(entry, raw, signal, instance);
    }
  }

  /** A start that did not get to ready: abandoned (stopped, no room) or failed (cool-down). Rethrows. */
  private async startEnded(entry: ModelEntry, raw: unknown, signal: AbortSignal, instance: Instance | null): Promise<never> {
    const aborted = signal.aborted;
    const err = aborted ? (signal.reason as Error) : toStartError(raw);
    if (instance) await this.effects.stop(instance, 2000).catch(() => {});
    if (aborted || isNoRoom(err)) {
      this.post(entry, { type: 'startAbandoned', error: aborted ? null : err.message, cause: err });
    } else {
      this.post(entry, { type: 'startFailed', message: err.message, cause: err });
      this.deps.log.warn({ model: entry.id, err: err.message, coolDownMs: coolDownMs(entry.failures) }, 'model start failed');
    }
    throw err;
  }

  /**
   * The stop itself: `begun` takes the model to stopping (a stop, a failed sleep or wake), the
   * server is stopped, then stopped (with `error` when it is worth showing).
   */
  private async stopServer(entry: ModelEntry, instance: Instance, begun: LifecycleEvent, error: string | null): Promise<void> {
    this.post(entry, begun);
    await this.effects
      .stop(instance, STOP_GRACE_MS)
      .catch((err: Error) => this.deps.log.error({ model: entry.id, err: err.message }, 'stop failed'));
    this.gpuView.noteReleasing(entry);
    this.post(entry, { type: 'serverGone', error });
  }

  // ---------------------------------------------------------------- stop

  /** Evict for a waiting start. A yielding model keeps its queue, and starts again for it after. */
  private evict(entry: ModelEntry): void {
    this.evictions += 1;
    const yielded = entry.phase === 'yielding';
    void this.stop(entry, yielded ? 'yielded' : 'evicted', errors.evicted(entry.id), {
      keepQueue: yielded,
    }).then(() => this.resumeForQueue(entry));
  }

  /** Start (or wake) a model again for the requests waiting for it, unless the gateway is shutting down. */
  private resumeForQueue(entry: ModelEntry): void {
    if (entry.queue.queued > 0 && !this.shuttingDown) this.ensureStarted(entry).catch(() => {});
  }

  /** Stop a model: abandon its start if one is running, cut or reject what remains, stop the server. */
  private stop(entry: ModelEntry, why: string, cut: GatewayError, opts: { keepQueue?: boolean } = {}): Promise<void> {
    const under = this.stops.get(entry);
    if (under) return under;
    const stopping = (async () => {
      this.idle.clear(entry);
      // A remote model has no lifecycle: only its requests are cut.
      const local = entry.config.runtime !== 'remote';
      if (local && entry.state !== 'stopped' && entry.state !== 'failed') this.post(entry, { type: 'stopAsked' });
      const start = this.starts.get(entry);
      if (start) {
        start.abort.abort(cut);
        await start.done.catch(() => {});
      }
      if (!opts.keepQueue) entry.queue.rejectWaiting(cut);
      entry.queue.cutInFlight(cut);
      const instance = entry.instance;
      if (!instance || !(entry.state === 'ready' || entry.state === 'sleeping' || entry.state === 'waking')) return;
      this.deps.log.info({ model: entry.id, why, asleep: entry.state !== 'ready' }, 'stopping model');
      await this.stopServer(entry, instance, { type: 'stopBegun' }, null);
    })().finally(() => {
      this.stops.delete(entry);
    });
    this.stops.set(entry, stopping);
    return stopping;
  }

  /** A server that dies on its own: while serving or asleep → stopped, requests cut (P12); the next request restarts it. */
  private watchExit(entry: ModelEntry, instance: Instance): void {
    void instance.exited.then((info) => {
      // start, wake and stop paths handle the rest
      if (info.requested || entry.instance !== instance || !(entry.state === 'ready' || entry.state === 'sleeping')) return;
      this.deps.log.warn({ model: entry.id, reason: info.reason }, 'model server exited while serving');
      this.gpuView.noteReleasing(entry);
      this.post(entry, {
        type: 'serverDied',
        error: `The model server ${info.reason}${info.oomKilled ? ' (out of memory)' : ''}`,
        cut: errors.serverDiedServing(entry.id, info.reason),
      });
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
    if (this.deps.hostRamTotalMiB && this.deps.config.scheduling.sleepHostRamGiB === 'auto') {
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
    const bye = errors.shuttingDown();
    for (const e of this.entries.values()) {
      this.idle.clear(e);
      e.queue.rejectWaiting(bye);
      this.starts.get(e)?.abort.abort(bye);
    }
    const deadline = this.now() + drainMs;
    while (!this.drainCut && [...this.entries.values()].some((e) => e.queue.inFlight.size > 0) && this.now() < deadline) {
      await this.nextChange(Math.min(200, deadline - this.now()));
    }
    for (const e of this.entries.values()) e.queue.cutInFlight(bye);
    await Promise.all([...this.starts.values()].map((w) => w.done.catch(() => {})));
    if (stopModels) await Promise.all([...this.entries.values()].map((e) => this.stop(e, 'shutdown', bye)));
    this.line.close();
    this.gpuView.close();
  }
}

/** `work`, or a client_gone rejection as soon as `signal` aborts (the work itself goes on). */
function untilAborted(work: Promise<void>, signal: AbortLike): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(errors.clientGoneWaiting());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function toStartError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return errors.startThrew(msg, { cause: err });
}
