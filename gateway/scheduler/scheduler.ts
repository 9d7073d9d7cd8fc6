// The scheduler: the one place that carries out decisions about models. Callers ask `admit()`,
// `release()`, `load()` or `unload()`; they never read a state and act on it. The decisions
// themselves are pure and live beside it: placement and turn-taking (memory-turns.ts over
// placement.ts), idle stops (idle-policy.ts), memory being released (memory-ledger.ts), the
// lifecycle's allowed transitions (model-transitions.ts), admission (model-queue.ts). See design.md.

import { EventEmitter } from 'node:events';
import type { GatewayConfig, LocalModelConfig } from '../config/types.js';
import { GatewayError } from '../errors.js';
import { attributeGpuMemory, type ManagedModel } from '../gpu/attribution.js';
import type { GpuProbe, GpuSnapshot } from '../gpu/probe.js';
import type { Instance, Runtime } from '../runtimes/runtime.js';
import { waitHealthy } from '../runtimes/wait-healthy.js';
import type { AbortLike } from '../proxy/cancel.js';
import { idleStopAt } from './idle-policy.js';
import { MemoryLedger } from './memory-ledger.js';
import { decideMemory, type ContenderFacts, type HolderFacts, type MemoryDecision } from './memory-turns.js';
import { ModelEntry, coolDownMs } from './model-entry.js';
import type { Lease } from './model-queue.js';
import { gpuMemoryUtilization, type PlacementGpu } from './placement.js';

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
      if (entry.state === 'ready') this.grant(entry);
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
    entry.beginStart(this.now());
    let instance: Instance | null = null;
    const startedAt = this.now();
    try {
      if (!runtime) throw new GatewayError('model_start_failed', `No ${config.runtime} runtime is available`);
      if (this.unreconciled.has(runtime.kind)) {
        await this.reconcile(runtime); // throws while the runtime still cannot be asked
        if (entry.state === 'ready') return; // adopted
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
      if (aborted || (err instanceof GatewayError && err.code === 'insufficient_vram')) {
        entry.startAbandoned(aborted ? null : err.message, this.now());
      } else {
        entry.startFailed(err.message, this.now());
        this.deps.log.warn({ model: entry.id, err: err.message, coolDownMs: coolDownMs(entry.failures) }, 'model start failed');
      }
      entry.queue.rejectWaiting(err);
      throw err;
    }
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
        const why = entry.vramWait ?? 'no room was made in time';
        contender.reject(new GatewayError('insufficient_vram', `Not enough GPU memory for ${entry.id} within ${timeoutS} s: ${why}`));
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
      holders.push({
        id: e.id,
        gpus: e.gpuIndices,
        budgetMiB: e.budgetMiB,
        pinned: e.config.pinned,
        phase: e.stopPromise || e.state === 'stopping' ? 'stopping' : e.state === 'ready' ? 'ready' : 'starting',
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
      return { id: e.id, budgetMiB: e.budgetMiB, gpus: config.gpus, since: since === Infinity ? null : since };
    });
    const decision = decideMemory({
      now,
      gpus,
      reserveMiB: this.reserveMiB,
      holders,
      contenders,
      swapAfterMs: this.swapAfterMs,
      idleGraceMs: this.idleGraceMs,
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
      c.entry.reserve(p.gpuIndices);
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
    for (const ev of d.evict) {
      const e = this.entries.get(ev.id);
      if (!e || e.stopPromise || e.state !== 'ready') continue;
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
   * How long a model must have had nothing in flight or queued to count as idle (CONTRACT §2): a
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
      out.set(e.id, { pids: e.pids, gpus: e.gpuIndices, budgetMiB: e.budgetMiB, active: e.holdsGpu });
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
      if (!instance || entry.state !== 'ready') return;
      entry.beginStop(this.now());
      this.deps.log.info({ model: entry.id, why }, 'stopping model');
      await instance.stop(STOP_GRACE_MS).catch((err: Error) => this.deps.log.error({ model: entry.id, err: err.message }, 'stop failed'));
      this.noteReleasing(entry);
      entry.serverGone(null, this.now());
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
      Math.max(0, due - this.now()),
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
        if (!entry || !['stopped', 'starting', 'failed'].includes(entry.state)) continue;
        const m = models.find((x) => x.model.id === id)!;
        // Booked where it really runs: the instance knows the GPUs it was given.
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

function toStartError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new GatewayError('model_start_failed', `The model failed to start: ${msg}`, { cause: err });
}
