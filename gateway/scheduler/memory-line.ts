// The line for GPU memory, carried out: starts (and wakes) that need memory wait here; on every
// change while anyone waits or yields, and at the time the last decision asked to be woken, the
// line takes a snapshot (the facts below, pure), asks memory-turns.ts for the decision of the
// moment and carries it out in the same synchronous step, so nothing changes in between. The
// decision is final: the snapshot holds every fact it needs, and nothing here second-guesses it.
// The line writes no model entry: it posts lifecycle events to the coordinator (`act.post`), and
// the actions that stop or put to sleep are the coordinator's too.

import { sleepHostRamMiB, sleepLevel } from '../config/sleep-config.js';
import { HostGpuIds } from '../hosts/host-gpus.js';
import type { GatewayConfig, LocalModelConfig } from '../config/types.js';
import { errors, GatewayError } from '../errors.js';
import type { GatewayLogger } from '../logger.js';
import type { GpuView } from './gpu-view.js';
import { decideMemory, type ContenderFacts, type HolderFacts, type MemoryDecision } from './memory-turns.js';
import type { LifecycleEvent } from './lifecycle.js';
import type { ModelEntry } from './model-entry.js';
import { gpuMemoryUtilization, type PlacementGpu } from './placement.js';

/**
 * How long a model must have had nothing in flight or queued to count as idle (docs/configuration.md): a
 * client that sends its next request as soon as the last one ended keeps its model busy.
 */
const IDLE_GRACE_MS = 500;

/** Where a start was placed: its GPUs, and the share of their memory vLLM is given. */
export interface Placement {
  gpuIndices: number[];
  utilization: number;
}

/** What the line does with a decision; the scheduler carries each out. */
export interface MemoryLineActions {
  /** Apply a lifecycle event to the model (the coordinator's only writer). */
  post(entry: ModelEntry, event: LifecycleEvent): void;
  putToSleep(entry: ModelEntry, why: string): void;
  evict(entry: ModelEntry): void;
}

export interface MemoryLineDeps {
  config: GatewayConfig;
  models: ReadonlyMap<string, ModelEntry>;
  gpus: Pick<GpuView, 'placementGpusNow' | 'heldMiB' | 'residualMiB' | 'askAgain'>;
  /** Host RAM all level-1 sleepers may hold together (settled at init() for `auto`). */
  hostRamBudgetMiB: () => number;
  now: () => number;
  log: GatewayLogger;
  act: MemoryLineActions;
}

/** A start waiting for GPU memory (its caller awaits `resolve` or `reject`). */
interface Contender {
  entry: ModelEntry;
  registeredAt: number;
  resolve(p: Placement): void;
  reject(err: Error): void;
}

export class MemoryLine {
  private readonly contenders = new Map<ModelEntry, Contender>();
  private settleScheduled = false;
  private wakeTimer: NodeJS.Timeout | null = null;

  /** Remote hosts configured (docs/hosts.md): GPU ids are host-qualified. */
  private readonly hostIds: HostGpuIds | null;

  constructor(private readonly deps: MemoryLineDeps) {
    const hosts = deps.config.hosts ?? [];
    this.hostIds = hosts.length > 0 ? new HostGpuIds(hosts.map((h) => h.name)) : null;
  }

  /** Something changed: decide again, if anyone waits for memory or yields it. */
  changed(): void {
    if (this.contenders.size > 0 || this.anyYielding()) this.settleSoon();
  }

  /**
   * Join the line for GPU memory and wait until the decision places this start (its GPUs are then
   * reserved), or refuses it (insufficient_vram), or queueTimeoutSeconds pass, or it is aborted.
   */
  waitForMemory(entry: ModelEntry, signal: AbortSignal): Promise<Placement> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    const timeoutS = this.deps.config.limits.queueTimeoutSeconds;
    return new Promise<Placement>((resolve, reject) => {
      const done = () => {
        clearTimeout(deadline);
        signal.removeEventListener('abort', onAbort);
        if (this.contenders.get(entry) === contender) this.contenders.delete(entry);
        if (entry.memoryWait !== null) this.deps.act.post(entry, { type: 'memoryWait', wait: null });
      };
      const contender: Contender = {
        entry,
        registeredAt: this.deps.now(),
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
        contender.reject(errors.memoryWaitTimedOut(entry.id, timeoutS, entry.vramWait ?? 'no room was made in time'));
      }, timeoutS * 1000);
      deadline.unref();
      const onAbort = () => contender.reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      this.contenders.set(entry, contender);
      this.deps.gpus.askAgain();
      this.settle(); // decide at once: a start that fits goes ahead without waiting a turn of the event loop
    });
  }

  settleSoon(): void {
    if (this.settleScheduled) return;
    this.settleScheduled = true;
    // After the current synchronous step (which may be in the middle of several changes), before
    // any timer or I/O: a decision never waits behind a client's next request.
    queueMicrotask(() => {
      this.settleScheduled = false;
      this.settle();
    });
  }

  /** No more decisions (shutdown). */
  close(): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
  }

  private anyYielding(): boolean {
    for (const e of this.deps.models.values()) if (e.phase === 'yielding') return true;
    return false;
  }

  /** Take a snapshot, ask the pure decision, carry it out. Synchronous: nothing changes in between. */
  private settle(): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    if (this.contenders.size === 0 && !this.anyYielding()) return;
    const gpus = this.deps.gpus.placementGpusNow();
    if (gpus === null) return; // a first GPU reading is on its way; settled again when it comes
    const decision = decideMemory({
      now: this.deps.now(),
      gpus,
      reserveMiB: Math.round(this.deps.config.gpu.reserveGiB * 1024),
      holders: holderFacts(this.deps.models.values(), this.deps.gpus, this.deps.now()),
      contenders: [...this.contenders.values()].map((c) => contenderFacts(c, this.hostIds)),
      // 0: busy models are never displaced
      swapAfterMs: this.deps.config.scheduling.swapAfterSeconds * 1000,
      batchSwapAfterMs: this.deps.config.scheduling.batchSwapAfterSeconds * 1000,
      idleGraceMs: IDLE_GRACE_MS,
      hostRamBudgetMiB: this.deps.hostRamBudgetMiB(),
      hostIds: this.hostIds ?? undefined,
    });
    this.carryOut(decision, gpus);
  }

  private carryOut(d: MemoryDecision, gpus: readonly PlacementGpu[]): void {
    const now = this.deps.now();
    const { act, log } = this.deps;
    const models = this.deps.models;
    const byId = (id: string) => models.get(id);
    const contenderOf = (id: string) => [...this.contenders.values()].find((c) => c.entry.id === id);
    for (const r of d.refuse) {
      const c = contenderOf(r.id);
      if (!c) continue;
      c.reject(
        r.reason === 'no request waits for it any more'
          ? errors.noGpuMemoryNobodyWaits(r.id, c.entry.vramWait)
          : errors.noGpuMemory(r.id, r.reason),
      );
    }
    for (const p of d.place) {
      const c = contenderOf(p.id);
      if (!c) continue;
      const config = c.entry.config as LocalModelConfig;
      const totals = p.gpuIndices.map((i) => gpus.find((g) => g.index === i)!.totalMiB);
      act.post(c.entry, c.entry.phase === 'waking' ? { type: 'wakeBooked' } : { type: 'placed', gpuIndices: p.gpuIndices });
      c.resolve({ gpuIndices: p.gpuIndices, utilization: gpuMemoryUtilization(config.vramGiB, Math.min(...totals)) });
    }
    for (const e of models.values()) {
      const to = d.yielding.get(e.id) ?? null;
      if (to === e.yieldingTo) continue;
      if (to === null) {
        act.post(e, { type: 'yieldWithdrawn' });
        continue;
      }
      log.info({ model: e.id, to, readyForMs: now - e.readyAt }, 'model yields its GPU memory');
      act.post(e, { type: 'turnOver', to });
    }
    for (const sl of d.sleep) act.putToSleep(byId(sl.id)!, `evicted for ${sl.for}`);
    const byContender = new Map<string, string[]>();
    for (const ev of d.evict) byContender.set(ev.for, [...(byContender.get(ev.for) ?? []), ev.id]);
    for (const [forId, ids] of byContender) {
      log.info({ model: forId, evict: ids }, 'evicting least recently used models');
      for (const id of ids) act.evict(byId(id)!);
    }
    for (const [id, w] of d.waiting) {
      const c = contenderOf(id);
      if (c) act.post(c.entry, { type: 'memoryWait', wait: w });
    }
    if (d.wakeAt !== null) {
      this.wakeTimer = setTimeout(() => this.settleSoon(), Math.max(0, d.wakeAt - now));
      this.wakeTimer.unref();
    }
  }
}

/** The models holding GPU memory, as the decision sees them (no I/O: the entries and the GPU view read now). */
export function holderFacts(models: Iterable<ModelEntry>, gpus: Pick<GpuView, 'heldMiB' | 'residualMiB'>, now: number): HolderFacts[] {
  const holders: HolderFacts[] = [];
  for (const e of models) {
    if (!e.holdsGpu) continue;
    const canSleep = sleepLevel(e.config) > 0 && (e.phase === 'ready' || e.phase === 'yielding') && !e.stopAsked;
    holders.push({
      id: e.id,
      gpus: e.gpuIndices,
      budgetMiB: gpus.heldMiB(e),
      pinned: e.config.pinned,
      phase: holderPhase(e),
      sleep:
        canSleep || e.state === 'sleeping'
          ? {
              residualMiB: gpus.residualMiB(e),
              // a level-2 sleeper holds nothing in host RAM; an awake one would hold its level's
              hostRamMiB: e.state === 'sleeping' && e.sleptLevel !== 1 ? 0 : sleepHostRamMiB(e.config as LocalModelConfig),
            }
          : null,
      inFlight: e.queue.inFlight.size,
      queued: e.queue.queued,
      lastUsedAt: e.lastUsedAt ?? 0,
      readyAt: e.readyAt,
      yielding: e.phase === 'yielding',
      interactiveAt: e.queue.servesInteractive ? now : e.queue.lastInteractiveEndAt,
    });
  }
  return holders;
}

function holderPhase(e: ModelEntry): HolderFacts['phase'] {
  if (e.stopAsked || e.phase === 'stopping') return 'stopping';
  switch (e.phase) {
    case 'fallingAsleep':
      return 'falling-asleep';
    case 'sleeping':
      return 'sleeping';
    case 'waking':
    case 'wakeBooked':
      return 'waking';
    case 'ready':
    case 'yielding':
      return 'ready';
    default:
      return 'starting';
  }
}

/**
 * A start in line, as the decision sees it: its place is its oldest waiting request (or load()
 * call), by class (priority.ts). A load() call has its caller's class: the dashboard's and the
 * tray's are interactive, an Ollama load-only request's is its X-Priority's or its key's.
 */
function contenderFacts(c: Contender, hostIds: HostGpuIds | null): ContenderFacts {
  const e = c.entry;
  const config = e.config as LocalModelConfig;
  const loads = e.explicitStartsByPriority;
  const loadAt = (n: number) => (n > 0 ? c.registeredAt : Infinity);
  const interactive = Math.min(e.queue.oldestWaitingAt('interactive') ?? Infinity, loadAt(loads.interactive));
  const batchAt = Math.min(e.queue.oldestWaitingAt('batch') ?? Infinity, loadAt(loads.batch));
  const batch = batchAt === Infinity ? null : batchAt;
  const since = Math.min(interactive, batchAt);
  const waking = e.state === 'waking';
  // A wake needs its budget where it sleeps.
  const gpus = waking ? [...e.gpuIndices] : config.gpus;
  const facts: ContenderFacts = {
    id: e.id,
    budgetMiB: e.budgetMiB,
    gpus,
    since: since === Infinity ? null : since,
    waiters: { interactiveSince: interactive === Infinity ? null : interactive, batchSince: batch },
  };
  if (!hostIds) return facts;
  // With hosts: a process model runs here only; a wake on the host it sleeps on, its GPUs there.
  if (waking && e.gpuIndices.length > 0) {
    return { ...facts, hosts: [hostIds.hostOf(e.gpuIndices[0])], gpus: e.gpuIndices.map((i) => hostIds.of(i).index) };
  }
  return { ...facts, hosts: config.runtime === 'docker' ? hostIds.hostsFor(config) : ['local'] };
}

/** A start or wake that got no GPU memory (refused, or its wait timed out): no cool-down, no failure. */
export function isNoRoom(err: unknown): err is GatewayError {
  return err instanceof GatewayError && (err.code === 'insufficient_vram' || err.code === 'queue_timeout');
}
