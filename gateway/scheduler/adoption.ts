// Adoption at gateway start (P14): each runtime lists the servers an earlier gateway left running;
// those that match the config are adopted (as ready, or as sleeping when vLLM says it sleeps),
// booked on the GPUs the instance reports rather than where a fresh start would go. A runtime
// that cannot be asked yet (Docker not running) is asked again in the background until it
// answers; until then its models' starts wait for that answer, so that nothing is started beside
// a server that should have been adopted. Adoption decides which server goes to which model;
// the coordinator applies it (`adopt`), and whether the server sleeps is asked through Effects.

import { sleepLevel } from '../config/sleep-config.js';
import type { LocalModelConfig } from '../config/types.js';
import type { Instance, ReconcileModel, Runtime } from '../runtimes/runtime.js';
import type { SleepLevel } from '../runtimes/vllm-sleep.js';
import type { GatewayLogger } from '../logger.js';
import type { Effects } from './effects.js';
import type { GpuView } from './gpu-view.js';
import { ADOPTABLE } from './lifecycle.js';
import type { ModelEntry } from './model-entry.js';
import { gpuMemoryUtilization, type PlacementGpu } from './placement.js';

export interface AdoptionDeps {
  models: ReadonlyMap<string, ModelEntry>;
  gpus: Pick<GpuView, 'placementGpus'>;
  log: GatewayLogger;
  isShuttingDown: () => boolean;
  effects: Pick<Effects, 'sleepingLevel'>;
  /**
   * Adopt `instance` for `entry` (asleep at `level`, or awake when null): the coordinator applies
   * it when the model can still take it over; false when it cannot any more (it was started meanwhile).
   */
  adopt(entry: ModelEntry, instance: Instance, gpuIndices: readonly number[], level: SleepLevel | null): boolean;
}

export class Adoption {
  /** Runtimes whose reconciliation has not succeeded yet, and the one in progress. */
  private readonly unreconciled = new Set<Runtime['kind']>();
  private readonly reconciling = new Map<Runtime['kind'], Promise<void>>();

  constructor(private readonly deps: AdoptionDeps) {}

  /** True while a runtime's reconciliation still waits for the runtime to answer (for /ready). */
  get pending(): boolean {
    return this.unreconciled.size > 0;
  }

  /** Whether starts on this runtime must first reconcile it (it has not answered yet). */
  pendingFor(kind: Runtime['kind']): boolean {
    return this.unreconciled.has(kind);
  }

  /** Reconcile every runtime once; one that cannot be asked is retried in the background. */
  async adoptAll(runtimes: Iterable<Runtime | undefined>): Promise<void> {
    for (const runtime of runtimes) {
      if (!runtime?.reconcile) continue;
      try {
        await this.reconcile(runtime);
      } catch (err) {
        const msg = (err as Error).message;
        this.deps.log.warn({ runtime: runtime.kind, err: msg }, 'could not look for running model servers; retrying in the background');
        this.unreconciled.add(runtime.kind);
        void this.retry(runtime);
      }
    }
  }

  /** Lists the runtime's servers still running, adopts those that match, lets it remove the rest. */
  reconcile(runtime: Runtime): Promise<void> {
    const running = this.reconciling.get(runtime.kind);
    if (running) return running;
    const p = this.run(runtime).finally(() => {
      this.reconciling.delete(runtime.kind);
    });
    this.reconciling.set(runtime.kind, p);
    return p;
  }

  private async run(runtime: Runtime): Promise<void> {
    const { log } = this.deps;
    const models = reconcileModels(this.deps.models.values(), runtime.kind, await this.deps.gpus.placementGpus());
    const adopted = await runtime.reconcile!(models);
    this.unreconciled.delete(runtime.kind);
    for (const [id, instance] of adopted) {
      const entry = this.deps.models.get(id);
      // Advisory (the coordinator decides again in adopt()): spares asking a server nobody can take.
      if (!entry || !ADOPTABLE.includes(entry.phase)) continue;
      const m = models.find((x) => x.model.id === id)!;
      const level = sleepLevel(entry.config);
      const asleepAt = level > 0 ? await this.deps.effects.sleepingLevel(instance, level === 2 ? 2 : 1).catch(() => null) : null;
      // Booked where it really runs: the instance knows the GPUs it was given.
      const gpuIndices = instance.gpuIndices ?? m.gpuIndices;
      if (!this.deps.adopt(entry, instance, gpuIndices, asleepAt)) continue; // started meanwhile
      if (asleepAt !== null) {
        log.info({ model: id, endpoint: instance.endpoint, gpus: entry.gpuIndices, level: asleepAt }, 'adopted sleeping model server');
      } else {
        log.info({ model: id, endpoint: instance.endpoint, gpus: entry.gpuIndices }, 'adopted running model server');
      }
    }
  }

  private async retry(runtime: Runtime): Promise<void> {
    const waiting = () => this.unreconciled.has(runtime.kind) && !this.deps.isShuttingDown();
    for (let attempt = 0; waiting(); attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(1000, 250 * 2 ** attempt)).unref());
      if (!waiting()) return;
      await this.reconcile(runtime).catch(() => {});
    }
  }
}

/**
 * The runtime's configured models as reconcile() needs them (pure): where a fresh start would put
 * each (`gpus: auto` guesses the first GPU) and the memory share it would get there.
 */
export function reconcileModels(entries: Iterable<ModelEntry>, kind: Runtime['kind'], gpus: readonly PlacementGpu[]): ReconcileModel[] {
  const out: ReconcileModel[] = [];
  for (const e of entries) {
    if (e.config.runtime !== kind) continue;
    const c = e.config as LocalModelConfig;
    const indices = c.gpus === 'auto' ? [gpus[0]?.index ?? 0] : c.gpus;
    const utilizationOn = (on: readonly number[]) => {
      const totals = on.map((i) => gpus.find((g) => g.index === i)?.totalMiB ?? 0).filter((t) => t > 0);
      return totals.length ? gpuMemoryUtilization(c.vramGiB, Math.min(...totals)) : 0.9;
    };
    out.push({ model: c, gpuIndices: indices, gpuMemoryUtilization: utilizationOn(indices), utilizationOn });
  }
  return out;
}
