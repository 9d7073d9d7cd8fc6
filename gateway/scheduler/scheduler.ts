// The scheduler: admission, on-demand starts shared by concurrent callers, placement with LRU
// eviction, idle stops, crash handling and shutdown. It owns every ModelEntry's state (ARCHITECTURE
// rule 2): callers ask `admit()` or `load()`; they never read a state and act on it. See design.md.

import { EventEmitter } from 'node:events';
import type { GatewayConfig, LocalModelConfig } from '../config/types.js';
import { GatewayError } from '../errors.js';
import { attributeGpuMemory, type ManagedModel } from '../gpu/attribution.js';
import type { GpuProbe, GpuSnapshot } from '../gpu/probe.js';
import type { Instance, Runtime } from '../runtimes/runtime.js';
import { waitHealthy } from '../runtimes/wait-healthy.js';
import { ModelEntry, coolDownMs } from './model-entry.js';
import type { Lease } from './model-queue.js';
import type { AbortLike } from '../proxy/cancel.js';
import { gpuMemoryUtilization, planPlacement, type PlacedModel, type PlacementGpu } from './placement.js';

export interface SchedulerDeps {
  config: GatewayConfig;
  runtimes: Partial<Record<'docker' | 'process', Runtime>>;
  gpu: GpuProbe | null;
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void };
  now?: () => number;
}

/** How long a start waits for the GPU to *measure* evicted memory as free (P11). */
const MEASURED_RELEASE_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 10_000;
/** How long PIDs of a stopped server are still expected to hold GPU memory. */
const RELEASING_PIDS_MS = 15_000;

export class Scheduler extends EventEmitter {
  readonly entries = new Map<string, ModelEntry>();
  private readonly byName = new Map<string, ModelEntry>();
  private readonly now: () => number;
  private shuttingDown = false;
  private drainCut = false;
  /** Placement decisions (plan + evict + reserve) happen one at a time. */
  private placementLock: Promise<void> = Promise.resolve();
  private readonly changeWaiters = new Set<() => void>();
  private unsubscribeGpu: (() => void) | null = null;
  private readonly releasingPids = new Map<number, number>();
  /** Runtimes whose start-up reconciliation has not succeeded yet, and the one in progress. */
  private readonly unreconciled = new Set<Runtime['kind']>();
  private readonly reconciling = new Map<Runtime['kind'], Promise<void>>();
  /**
   * Per GPU: memory that servers stopped in the last few seconds last measured there (`mib`), the
   * other processes' memory when they stopped (`otherBefore`) and when (`at`). nvidia-smi stops
   * listing an exited process at once but counts its memory as used until the driver frees it.
   */
  private readonly releasingMiB = new Map<number, { mib: number; otherBefore: number; at: number }>();
  evictions = 0;

  constructor(private readonly deps: SchedulerDeps) {
    super();
    this.now = deps.now ?? Date.now;
    for (const m of deps.config.models) {
      const entry = new ModelEntry(m, () => this.changed(), this.now());
      this.entries.set(m.id, entry);
      this.byName.set(m.id, entry);
      for (const a of m.aliases) this.byName.set(a, entry);
    }
    if (deps.gpu) this.unsubscribeGpu = deps.gpu.onReading((snap) => void this.onGpuReading(snap));
  }

  /** The model a request names (id or alias), or undefined. */
  resolve(name: string): ModelEntry | undefined {
    return this.byName.get(name);
  }

  private changed(): void {
    this.emit('change');
    for (const wake of this.changeWaiters) wake();
    this.changeWaiters.clear();
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
    if (entry.state === 'ready' && !signal.aborted) {
      const lease = entry.queue.tryLease(requestId);
      if (lease) return lease;
    }
    const ticket = entry.queue.enqueue(requestId);
    const timeoutS = this.deps.config.limits.queueTimeoutSeconds;
    // Waiting out the queue timeout while the start waits for GPU memory is insufficient_vram
    // (CONTRACT §3: everything else busy or pinned), not a plain queue timeout.
    const timer = setTimeout(
      () =>
        ticket.cancel(
          entry.vramWait !== null
            ? new GatewayError('insufficient_vram', `Not enough GPU memory for ${entry.id} within ${timeoutS} s: ${entry.vramWait}`)
            : new GatewayError('queue_timeout', `Waited ${timeoutS} s for ${entry.id} without getting a slot`),
        ),
      timeoutS * 1000,
    );
    const onAbort = () => ticket.cancel(new GatewayError('client_gone', 'The client went away while waiting'));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    try {
      if (entry.state === 'ready') entry.queue.grant();
      else this.ensureStarted(entry).catch(() => {}); // failures reach the waiters via rejectWaiting
      return await ticket.granted;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      this.armIdleTimer(entry);
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
    entry.lastUsedAt = this.now();
    if (entry.state === 'ready') entry.queue.grant();
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
    if (entry.state === 'failed') {
      entry.coolDownUntil = 0;
      entry.setState('stopped', this.now(), { error: null });
    }
  }

  // ---------------------------------------------------------------- start

  private ensureStarted(entry: ModelEntry): Promise<void> {
    if (entry.config.runtime === 'remote' || entry.state === 'ready') return Promise.resolve();
    if (!entry.startPromise) {
      entry.startPromise = this.runStart(entry).finally(() => {
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
    entry.setState('starting', this.now(), {
      error: null,
      progress: { phase: 'loading', percent: null, message: 'waiting for GPU memory' },
    });
    let instance: Instance | null = null;
    const startedAt = this.now();
    try {
      if (!runtime) throw new GatewayError('model_start_failed', `No ${config.runtime} runtime is available`);
      if (this.unreconciled.has(runtime.kind)) {
        await this.reconcile(runtime); // throws while the runtime still cannot be asked
        if (entry.instance) return; // adopted: ready now
      }
      const placement = await this.place(entry, ac.signal);
      entry.progress = { phase: 'loading', percent: null, message: 'starting the server' };
      instance = await runtime.start({
        model: config,
        gpuIndices: placement.gpuIndices,
        gpuMemoryUtilization: placement.utilization,
        signal: ac.signal,
        onPhase: (phase) =>
          entry.setState(phase, this.now(), {
            progress:
              phase === 'pulling'
                ? { phase: 'pulling', percent: null, message: 'pulling the image' }
                : { phase: 'loading', percent: null, message: 'loading the model' },
          }),
        onProgress: (progress) => {
          entry.progress = progress;
          this.changed();
        },
      });
      entry.instance = instance;
      entry.lastInstance = instance;
      this.watchExit(entry, instance);
      if (entry.state !== 'starting')
        entry.setState('starting', this.now(), { progress: { phase: 'loading', percent: null, message: 'loading the model' } });
      await waitHealthy(instance, {
        healthPath: config.healthPath,
        timeoutMs: this.deps.config.timeouts.startSeconds * 1000,
        signal: ac.signal,
      });
      entry.failures = 0;
      entry.coolDownUntil = 0;
      entry.readyAt = this.now();
      entry.setState('ready', this.now(), { error: null, progress: null });
      this.deps.log.info({ model: entry.id, ms: this.now() - startedAt, endpoint: instance.endpoint }, 'model ready');
      entry.queue.grant();
    } catch (raw) {
      const aborted = ac.signal.aborted;
      const err = aborted ? (ac.signal.reason as Error) : toStartError(raw);
      if (instance) {
        await instance.stop(2000).catch(() => {});
        entry.instance = null;
      }
      entry.gpuIndices = [];
      if (aborted || (err instanceof GatewayError && err.code === 'insufficient_vram')) {
        entry.setState('stopped', this.now(), { error: aborted ? null : err.message, progress: null });
      } else {
        entry.failures += 1;
        entry.coolDownUntil = this.now() + coolDownMs(entry.failures);
        entry.setState('failed', this.now(), { error: err.message, progress: null });
        this.deps.log.warn({ model: entry.id, err: err.message, coolDownMs: coolDownMs(entry.failures) }, 'model start failed');
      }
      entry.queue.rejectWaiting(err);
      throw err;
    }
  }

  /** Plan under the placement lock: evict, wait for measured release, reserve the GPUs. */
  private async place(entry: ModelEntry, signal: AbortSignal): Promise<{ gpuIndices: number[]; utilization: number }> {
    try {
      return await this.placeLoop(entry, signal);
    } finally {
      entry.vramWait = null;
    }
  }

  private async placeLoop(entry: ModelEntry, signal: AbortSignal): Promise<{ gpuIndices: number[]; utilization: number }> {
    const config = entry.config as LocalModelConfig;
    const deadline = this.now() + this.deps.config.limits.queueTimeoutSeconds * 1000;
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const outcome = await this.withPlacementLock(async () => {
        const gpus = await this.placementGpus();
        const plan = planPlacement(gpus, this.reserveMiB, this.placedModels(entry), {
          id: entry.id,
          budgetMiB: entry.budgetMiB,
          gpus: config.gpus,
        });
        if (plan.kind !== 'fit') return plan;
        if (plan.evict.length > 0) {
          this.deps.log.info({ model: entry.id, evict: plan.evict }, 'evicting least recently used models');
          await Promise.all(plan.evict.map((id) => this.evict(this.entries.get(id)!)));
          return { kind: 'replan' as const };
        }
        entry.gpuIndices = plan.gpuIndices; // reserved from here on
        await this.waitForMeasuredRelease(plan.gpuIndices, entry.budgetMiB, signal);
        const totals = plan.gpuIndices.map((i) => gpus.find((g) => g.index === i)!.totalMiB);
        return {
          kind: 'placed' as const,
          gpuIndices: plan.gpuIndices,
          utilization: gpuMemoryUtilization(config.vramGiB, Math.min(...totals)),
        };
      });
      if (outcome.kind === 'placed') return outcome;
      if (outcome.kind === 'replan') continue;
      if (outcome.kind === 'impossible' || this.now() >= deadline) {
        throw new GatewayError('insufficient_vram', `Not enough GPU memory for ${entry.id}: ${outcome.reason}`);
      }
      // Nobody is waiting for this start any more (its clients went away): give up rather than
      // hold a place in line for GPU memory until the deadline.
      if (entry.queue.queued === 0 && entry.explicitStarts === 0) {
        throw new GatewayError(
          'insufficient_vram',
          `Not enough GPU memory for ${entry.id}, and no request waits for it any more: ${outcome.reason}`,
        );
      }
      entry.progress = { phase: 'loading', percent: null, message: `waiting for GPU memory: ${outcome.reason}` };
      entry.vramWait = outcome.reason; // cleared when place() returns or throws
      this.changed();
      await this.nextChange(Math.min(1000, deadline - this.now()));
    }
  }

  private async withPlacementLock<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.placementLock;
    let unlock!: () => void;
    this.placementLock = new Promise((r) => (unlock = r));
    await prev;
    try {
      return await fn();
    } finally {
      unlock();
    }
  }

  private get reserveMiB(): number {
    return Math.round(this.deps.config.gpu.reserveGiB * 1024);
  }

  private placedModels(except: ModelEntry): PlacedModel[] {
    const out: PlacedModel[] = [];
    for (const e of this.entries.values()) {
      if (e === except || !e.holdsGpu) continue;
      out.push({
        id: e.id,
        gpus: e.gpuIndices,
        budgetMiB: e.budgetMiB,
        lastUsedAt: e.lastActivity,
        busy: e.queue.busy,
        pinned: e.config.pinned,
        evictable: e.state === 'ready',
      });
    }
    return out;
  }

  /** GPUs as placement sees them; memory of processes the gateway does not manage counts as other. */
  private async placementGpus(): Promise<PlacementGpu[]> {
    const probe = this.deps.gpu;
    if (!probe) return [];
    const snap = probe.state().snapshot ?? (await probe.refresh().catch(() => null));
    if (!snap) return [];
    const attribution = attributeGpuMemory(snap, this.managedModels());
    return snap.gpus.map((g, i) => ({
      index: g.index,
      totalMiB: g.totalMiB,
      reservedMiB: g.reservedMiB,
      otherMiB: this.otherMiB(g.index, attribution.gpus[i].otherMiB, snap.at),
    }));
  }

  /**
   * Memory of processes the gateway does not manage, for placement. Unattributed memory that grew
   * since a server stopped, up to what that server held, is its memory not yet freed (unlisted by
   * nvidia-smi), not another process's: counting it as other would fail the start with
   * insufficient_vram or evict more than needed. waitForMeasuredRelease then waits for it to go.
   * Once a reading taken after the stop shows other memory back to its level, the record is done.
   */
  private otherMiB(gpu: number, measuredOther: number, snapshotAt: number): number {
    const r = this.releasingMiB.get(gpu);
    if (!r) return measuredOther;
    if (this.now() - r.at > RELEASING_PIDS_MS || (snapshotAt > r.at && measuredOther <= r.otherBefore)) {
      this.releasingMiB.delete(gpu);
      return measuredOther;
    }
    return Math.max(r.otherBefore, measuredOther - r.mib);
  }

  /**
   * The managed models as GPU attribution sees them. PIDs of servers stopped in the last few
   * seconds are included (as a model holding nothing): the driver frees their memory 0.2–0.3 s
   * after they exit, and until then it must not count as another process's, or a start right
   * after an eviction would evict more than it needs to. waitForMeasuredRelease covers the rest.
   */
  managedModels(includeReleasing = true): Map<string, ManagedModel> {
    const out = new Map<string, ManagedModel>();
    for (const e of this.entries.values()) {
      if (e.config.runtime === 'remote') continue;
      out.set(e.id, { pids: e.pids, gpus: e.gpuIndices, budgetMiB: e.budgetMiB, active: e.holdsGpu });
    }
    if (includeReleasing) {
      const cutoff = this.now() - RELEASING_PIDS_MS;
      for (const [pid, at] of this.releasingPids) if (at < cutoff) this.releasingPids.delete(pid);
      if (this.releasingPids.size > 0)
        out.set('\0releasing', { pids: new Set(this.releasingPids.keys()), gpus: [], budgetMiB: 0, active: false });
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

  private async evict(entry: ModelEntry): Promise<void> {
    this.evictions += 1;
    this.emit('evicted', entry.id);
    await this.stop(entry, 'evicted', new GatewayError('model_stopped', `${entry.id} was evicted`));
  }

  /** Stop a model: abandon its start if one is running, cut or reject what remains, stop the server. */
  private stop(entry: ModelEntry, why: string, cut: GatewayError): Promise<void> {
    if (entry.stopPromise) return entry.stopPromise;
    entry.stopPromise = (async () => {
      this.clearIdleTimer(entry);
      if (entry.startPromise) {
        entry.startAbort?.abort(cut);
        await entry.startPromise.catch(() => {});
      }
      entry.queue.rejectWaiting(cut);
      entry.queue.cutInFlight(cut);
      const instance = entry.instance;
      if (!instance) return;
      entry.setState('stopping', this.now());
      this.deps.log.info({ model: entry.id, why }, 'stopping model');
      await instance.stop(STOP_GRACE_MS).catch((err: Error) => this.deps.log.error({ model: entry.id, err: err.message }, 'stop failed'));
      this.forgetServer(entry);
      entry.setState('stopped', this.now(), { error: null });
    })().finally(() => {
      entry.stopPromise = null;
    });
    return entry.stopPromise;
  }

  /** A server that dies on its own: while serving → stopped, requests cut (P12); the next request restarts it. */
  private watchExit(entry: ModelEntry, instance: Instance): void {
    void instance.exited.then((info) => {
      if (info.requested || entry.instance !== instance || entry.state !== 'ready') return; // start/stop paths handle the rest
      this.deps.log.warn({ model: entry.id, reason: info.reason }, 'model server exited while serving');
      this.forgetServer(entry);
      entry.setState('stopped', this.now(), { error: `The model server ${info.reason}${info.oomKilled ? ' (out of memory)' : ''}` });
      entry.queue.cutInFlight(
        new GatewayError('upstream_error', `The model server for ${entry.id} ${info.reason} while serving this request`),
      );
      if (entry.queue.queued > 0) this.ensureStarted(entry).catch(() => {});
    });
  }

  /** The server is gone: its GPUs are no longer held; its PIDs' memory is on its way out. */
  private forgetServer(entry: ModelEntry): void {
    const snap = this.deps.gpu?.state().snapshot;
    if (snap?.measured && entry.pids.size > 0) {
      const attribution = attributeGpuMemory(snap, this.managedModels());
      snap.gpus.forEach((g, i) => {
        const held = attribution.gpus[i].models.find((m) => m.id === entry.id)?.usedMiB ?? 0;
        if (held <= 0) return;
        const other = this.otherMiB(g.index, attribution.gpus[i].otherMiB, snap.at);
        const r = this.releasingMiB.get(g.index);
        this.releasingMiB.set(g.index, { mib: (r?.mib ?? 0) + held, otherBefore: r?.otherBefore ?? other, at: this.now() });
      });
    }
    for (const pid of entry.pids) this.releasingPids.set(pid, this.now());
    entry.instance = null;
    entry.gpuIndices = [];
    entry.pids = new Set();
  }

  // ---------------------------------------------------------------- idle

  private clearIdleTimer(entry: ModelEntry): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = null;
  }

  /**
   * Stop after ttlSeconds with nothing in flight or queued (P10: never while busy). One timer per
   * model at most: it is armed when the model goes idle and, when it fires, re-checks use and
   * re-arms itself for the remaining time, so busy traffic costs no timer operations.
   */
  private armIdleTimer(entry: ModelEntry): void {
    const ttl = entry.idleTtlSeconds;
    if (entry.idleTimer || ttl === Infinity || entry.state !== 'ready' || entry.queue.busy) return;
    const due = entry.lastActivity + ttl * 1000 - this.now();
    entry.idleTimer = setTimeout(
      () => {
        entry.idleTimer = null;
        if (entry.state !== 'ready' || entry.queue.busy) return; // re-armed when it goes idle
        if (entry.lastActivity + ttl * 1000 > this.now() + 5) return this.armIdleTimer(entry);
        void this.stop(entry, 'idle', new GatewayError('model_stopped', `${entry.id} stopped for idleness`));
      },
      Math.max(0, due),
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
          const totals = indices.map((i) => gpus.find((g) => g.index === i)?.totalMiB ?? 0).filter((t) => t > 0);
          return {
            model: c,
            gpuIndices: indices,
            gpuMemoryUtilization: totals.length ? gpuMemoryUtilization(c.vramGiB, Math.min(...totals)) : 0.9,
          };
        });
      const adopted = await runtime.reconcile!(models);
      this.unreconciled.delete(runtime.kind);
      for (const [id, instance] of adopted) {
        const entry = this.entries.get(id);
        if (!entry) continue;
        const m = models.find((x) => x.model.id === id)!;
        entry.instance = instance;
        entry.lastInstance = instance;
        entry.gpuIndices = m.gpuIndices;
        entry.readyAt = this.now();
        entry.failures = 0;
        entry.coolDownUntil = 0;
        entry.setState('ready', this.now(), { error: null, progress: null });
        this.watchExit(entry, instance);
        this.armIdleTimer(entry);
        this.deps.log.info({ model: id, endpoint: instance.endpoint }, 'adopted running model server');
        entry.queue.grant();
      }
    })().finally(() => {
      this.reconciling.delete(runtime.kind);
    });
    this.reconciling.set(runtime.kind, p);
    return p;
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
    this.unsubscribeGpu?.();
  }
}

function toStartError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new GatewayError('model_start_failed', `The model failed to start: ${msg}`, { cause: err });
}
