// Adoption at gateway start (P14): each runtime lists the servers an earlier gateway left running;
// those that match the config are adopted (as ready, or as sleeping when vLLM says it sleeps),
// booked on the GPUs the instance reports rather than where a fresh start would go. A runtime
// that cannot be asked yet (Docker not running) is asked again in the background until it
// answers; until then its models' starts wait for that answer, so that nothing is started beside
// a server that should have been adopted.

import { sleepLevel } from '../config/sleep-config.js';
import type { LocalModelConfig } from '../config/types.js';
import type { Instance, ReconcileModel, Runtime } from '../runtimes/runtime.js';
import { isSleeping } from '../runtimes/vllm-sleep.js';
import type { GatewayLogger } from '../logger.js';
import type { GpuView } from './gpu-view.js';
import type { ModelEntry } from './model-entry.js';
import { gpuMemoryUtilization, type PlacementGpu } from './placement.js';

export interface AdoptionDeps {
  models: ReadonlyMap<string, ModelEntry>;
  gpus: Pick<GpuView, 'placementGpus'>;
  now: () => number;
  log: GatewayLogger;
  isShuttingDown: () => boolean;
  /** An adopted server is the scheduler's now: it watches its exit, arms its idle timer, hands out slots. */
  adopted(entry: ModelEntry, instance: Instance): void;
}

/** States in which a model takes over a server found running. */
const ADOPTABLE: readonly string[] = ['stopped', 'starting', 'failed'];

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
    const { log, now } = this.deps;
    const models = reconcileModels(this.deps.models.values(), runtime.kind, await this.deps.gpus.placementGpus());
    const adopted = await runtime.reconcile!(models);
    this.unreconciled.delete(runtime.kind);
    for (const [id, instance] of adopted) {
      const entry = this.deps.models.get(id);
      if (!entry || !ADOPTABLE.includes(entry.state)) continue;
      const m = models.find((x) => x.model.id === id)!;
      const level = sleepLevel(entry.config);
      const asleepAt = level > 0 ? await sleepingLevelOf(instance, level === 2 ? 2 : 1) : null;
      if (!ADOPTABLE.includes(entry.state)) continue; // started meanwhile
      // Booked where it really runs: the instance knows the GPUs it was given.
      const gpuIndices = instance.gpuIndices ?? m.gpuIndices;
      if (asleepAt !== null) {
        entry.adoptedAsleep(instance, gpuIndices, asleepAt, now());
        log.info({ model: id, endpoint: instance.endpoint, gpus: entry.gpuIndices, level: asleepAt }, 'adopted sleeping model server');
      } else {
        entry.becameReady(instance, gpuIndices, now());
        log.info({ model: id, endpoint: instance.endpoint, gpus: entry.gpuIndices }, 'adopted running model server');
      }
      this.deps.adopted(entry, instance);
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

/**
 * Whether an adopted server sleeps (GET /is_sleeping), and at which level: vLLM's
 * vllm:engine_sleep_state tells (weights_offloaded = 1, discard_all = 2); without it, the
 * configured level. Null when it is awake or cannot say (then it is adopted as ready).
 */
async function sleepingLevelOf(instance: Instance, configured: 1 | 2): Promise<1 | 2 | null> {
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
