// The GPUs as the scheduler sees them: the probe's reading, with the memory of the gateway's own
// servers attributed to them (by PID where nvidia-smi measures, by budget where nothing does) and
// the memory of servers just stopped kept out of reach until the driver frees it (memory-ledger.ts).
// It reads and polls the probe; every decision over what it returns is the scheduler's.

import { sleepResidualMiB } from '../config/sleep-config.js';
import type { LocalModelConfig } from '../config/types.js';
import { attributeGpuMemory, type ManagedModel } from '../gpu/attribution.js';
import type { GpuProbe, GpuSnapshot } from '../gpu/probe.js';
import type { GatewayLogger } from '../logger.js';
import type { Effects } from './effects.js';
import { MemoryLedger } from './memory-ledger.js';
import type { Instance } from '../runtimes/runtime.js';
import type { ModelEntry } from './model-entry.js';
import type { PlacementGpu } from './placement.js';

/** How long a start waits for the GPU to *measure* evicted memory as free (P11). */
const MEASURED_RELEASE_TIMEOUT_MS = 10_000;

const NO_PIDS: ReadonlySet<number> = new Set();

export interface GpuViewDeps {
  gpu: GpuProbe | null;
  models: ReadonlyMap<string, ModelEntry>;
  now: () => number;
  /** `gpu.reserveGiB` in MiB: kept free on every GPU. */
  reserveMiB: number;
  log: GatewayLogger;
  /** Where the servers' PIDs are read (the instance, through the scheduler's seam). */
  effects: Pick<Effects, 'scrapePids'>;
  /** The first reading placementGpusNow() asked for has come (or failed): decide again. */
  onFirstReading: () => void;
  /** A measured reading came and the servers' PIDs were read anew for it. */
  onPidsRead: () => void;
}

export class GpuView {
  private readonly ledger = new MemoryLedger();
  /**
   * The newest measured reading whose servers' PIDs were read after it was taken. The probe stores
   * a reading before onReading has read the PIDs, and a server that started since the last pass
   * has none yet: attributing that reading would count its memory as other processes' (a wake
   * refused insufficient_vram while the model it would evict is "other"). Attribution pairs a
   * reading with PIDs read after it; a server listed in it existed when it was taken.
   */
  private attributed: GpuSnapshot | null = null;
  private refreshing: Promise<unknown> | null = null;
  private refreshTried = false;
  private readonly unsubscribe: (() => void) | null;
  /** Host PIDs of each model's server, read with each measured reading, for VRAM attribution. */
  private readonly pids = new Map<ModelEntry, { instance: Instance; pids: Set<number> }>();

  constructor(private readonly deps: GpuViewDeps) {
    this.unsubscribe = deps.gpu ? deps.gpu.onReading((snap) => void this.onReading(snap)) : null;
  }

  /** Stop listening to the probe's readings. */
  close(): void {
    this.unsubscribe?.();
  }

  /** A new start joins the line: a missing first reading is worth asking for again. */
  askAgain(): void {
    this.refreshTried = false;
  }

  /**
   * GPUs as placement sees them now; memory of processes the gateway does not manage counts as
   * other. null while the first reading is being taken.
   */
  placementGpusNow(): PlacementGpu[] | null {
    const probe = this.deps.gpu;
    if (!probe) return [];
    const snap = this.snapshot();
    if (snap) return this.placementGpusFrom(snap);
    if (probe.state().snapshot) return null; // measured, its PIDs being read: onReading decides again
    if (this.refreshTried) return [];
    if (!this.refreshing) {
      this.refreshing = probe
        .refresh()
        .catch(() => null)
        .finally(() => {
          this.refreshing = null;
          this.refreshTried = true;
          this.deps.onFirstReading();
        });
    }
    return null;
  }

  /** For reconciliation, which may run before any reading exists. */
  async placementGpus(): Promise<PlacementGpu[]> {
    const probe = this.deps.gpu;
    if (!probe) return [];
    const snap = this.snapshot() ?? probe.state().snapshot ?? (await probe.refresh().catch(() => null));
    return snap ? this.placementGpusFrom(snap) : [];
  }

  /** The reading to attribute: an unmeasured one as it is, a measured one once its PIDs are read. */
  private snapshot(): GpuSnapshot | null {
    const snap = this.deps.gpu?.state().snapshot ?? null;
    return snap?.measured ? this.attributed : snap;
  }

  private placementGpusFrom(snap: GpuSnapshot): PlacementGpu[] {
    const attribution = attributeGpuMemory(snap, this.managedModels());
    const now = this.deps.now();
    return snap.gpus.map((g, i) => ({
      index: g.index,
      totalMiB: g.totalMiB,
      reservedMiB: g.reservedMiB,
      otherMiB: this.ledger.otherMiB(g.index, attribution.gpus[i].otherMiB, snap.at, now),
    }));
  }

  /**
   * The managed models as GPU attribution sees them. PIDs of servers stopped in the last few
   * seconds are included (as a model holding nothing): see memory-ledger.ts.
   */
  managedModels(includeReleasing = true): Map<string, ManagedModel> {
    const out = new Map<string, ManagedModel>();
    for (const e of this.deps.models.values()) {
      if (e.config.runtime === 'remote') continue;
      // On a GPU nothing measures, a sleeper is shown holding its residue (sleep.residualGiB).
      const budgetMiB = e.holdsGpu && !e.holdsBudget ? sleepResidualMiB(e.config as LocalModelConfig) : e.budgetMiB;
      out.set(e.id, { pids: this.pidsOf(e), gpus: e.gpuIndices, budgetMiB, active: e.holdsGpu });
    }
    if (includeReleasing) {
      const releasing = this.ledger.releasingPids(this.deps.now());
      if (releasing.size > 0) out.set('\0releasing', { pids: releasing, gpus: [], budgetMiB: 0, active: false });
    }
    return out;
  }

  /** What a sleeper holds on each of its GPUs: measured by nvidia-smi where it can, else sleep.residualGiB. */
  residualMiB(entry: ModelEntry): number {
    const config = entry.config as LocalModelConfig;
    const fallback = sleepResidualMiB(config);
    const snap = this.snapshot();
    // Only a sleeper's own reading is its residue: an awake model (what it will hold once asleep,
    // for placement) or a reading taken before it fell asleep shows its whole budget.
    const asleep = entry.phase === 'sleeping' || entry.phase === 'waking' || entry.phase === 'wakeBooked';
    if (!asleep || !snap?.measured || this.pidsOf(entry).size === 0 || snap.at <= entry.asleepAt) return fallback;
    const attribution = attributeGpuMemory(snap, this.managedModels());
    let most = 0;
    for (const g of attribution.gpus) most = Math.max(most, g.models.find((m) => m.id === entry.id)?.usedMiB ?? 0);
    return most > 0 ? Math.min(most, entry.budgetMiB) : fallback;
  }

  /** GPU memory the model holds now on each of its GPUs: its budget, or a sleeper's residue. */
  heldMiB(entry: ModelEntry): number {
    return entry.holdsBudget ? entry.budgetMiB : entry.holdsGpu ? this.residualMiB(entry) : 0;
  }

  /** The server is gone: what it measured on its GPUs, and its PIDs, are on their way out. */
  noteReleasing(entry: ModelEntry): void {
    const snap = this.snapshot();
    const held: Array<{ gpu: number; heldMiB: number; otherMiB: number }> = [];
    const now = this.deps.now();
    const pids = this.pidsOf(entry);
    if (snap?.measured && pids.size > 0) {
      const attribution = attributeGpuMemory(snap, this.managedModels());
      snap.gpus.forEach((g, i) => {
        const heldMiB = attribution.gpus[i].models.find((m) => m.id === entry.id)?.usedMiB ?? 0;
        if (heldMiB <= 0) return;
        held.push({ gpu: g.index, heldMiB, otherMiB: this.ledger.otherMiB(g.index, attribution.gpus[i].otherMiB, snap.at, now) });
      });
    }
    this.ledger.noteStopped(held, pids, now);
    this.pids.delete(entry);
  }

  /** The PIDs last read for the model's current server (none once it is gone). */
  private pidsOf(entry: ModelEntry): ReadonlySet<number> {
    const read = this.pids.get(entry);
    return read && read.instance === entry.instance ? read.pids : NO_PIDS;
  }

  /** After an eviction vLLM needs the memory really free: poll until measured free (P11). */
  async waitForMeasuredRelease(gpuIndices: readonly number[], budgetMiB: number, signal: AbortSignal): Promise<void> {
    const probe = this.deps.gpu;
    if (!probe || !probe.state().snapshot?.measured) return;
    const until = this.deps.now() + MEASURED_RELEASE_TIMEOUT_MS;
    for (;;) {
      const snap = await probe.refresh().catch(() => null);
      if (!snap) return;
      const short = gpuIndices.some((i) => {
        const g = snap.gpus.find((x) => x.index === i);
        return g !== undefined && g.freeMiB - this.deps.reserveMiB < budgetMiB;
      });
      if (!short || signal.aborted) return;
      if (this.deps.now() >= until) {
        this.deps.log.warn({ gpuIndices, budgetMiB }, 'GPU memory not measured free after eviction; starting anyway');
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async onReading(snap: GpuSnapshot): Promise<void> {
    if (!snap.measured) return;
    await Promise.all(
      [...this.deps.models.values()].map(async (e) => {
        const instance = e.instance;
        if (!instance) return void this.pids.delete(e);
        const pids = await this.deps.effects.scrapePids(instance).catch(() => []);
        this.pids.set(e, { instance, pids: new Set(pids) });
      }),
    );
    const first = this.attributed === null;
    if (first || snap.at >= this.attributed!.at) this.attributed = snap;
    if (first) this.deps.onFirstReading(); // placementGpusNow() waited for these PIDs
    this.deps.onPidsRead(); // the status document attributes memory from these PIDs and the probe's reading
  }
}
