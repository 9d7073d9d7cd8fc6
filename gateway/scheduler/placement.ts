// Placement (pure; ARCHITECTURE.md "Scheduling semantics"). Given what each GPU can offer and the
// models that hold budgets on them, decide where a model starts and which idle models to evict.

export interface PlacementGpu {
  index: number;
  totalMiB: number;
  /** Memory the driver reserves (nvidia-smi memory.reserved), never usable. */
  reservedMiB: number;
  /** Memory held by processes the gateway does not manage. */
  otherMiB: number;
}

export interface PlacedModel {
  id: string;
  gpus: number[];
  budgetMiB: number;
  /** Epoch ms of last use; least recently used is evicted first. */
  lastUsedAt: number;
  /** Requests in flight or queued: never evicted (P10). */
  busy: boolean;
  pinned: boolean;
  /** Starting or stopping models hold their budget but are not candidates for eviction. */
  evictable: boolean;
}

export interface PlacementRequest {
  id: string;
  budgetMiB: number;
  gpus: 'auto' | number[];
}

export type PlacementPlan =
  | { kind: 'fit'; gpuIndices: number[]; evict: string[] }
  /** It would fit once busy (or starting/stopping) models are done: wait and plan again. */
  | { kind: 'wait'; reason: string }
  /** It can never fit with the models that are pinned, or the GPUs are too small. */
  | { kind: 'impossible'; reason: string };

const mib = (n: number) => `${(n / 1024).toFixed(1)} GiB`;

/** Free budget on one GPU: total − reserved − reserve − other processes − budgets placed on it. */
export function availableMiB(gpu: PlacementGpu, reserveMiB: number, placed: readonly PlacedModel[]): number {
  const held = placed.filter((m) => m.gpus.includes(gpu.index)).reduce((sum, m) => sum + m.budgetMiB, 0);
  return gpu.totalMiB - gpu.reservedMiB - reserveMiB - gpu.otherMiB - held;
}

function planOnGpus(
  gpus: PlacementGpu[],
  reserveMiB: number,
  placed: readonly PlacedModel[],
  req: PlacementRequest,
): PlacementPlan & { freeAfter?: number } {
  const others = placed.filter((m) => m.id !== req.id);
  const fits = (remaining: readonly PlacedModel[]) => gpus.every((g) => availableMiB(g, reserveMiB, remaining) >= req.budgetMiB);
  const minFree = (remaining: readonly PlacedModel[]) => Math.min(...gpus.map((g) => availableMiB(g, reserveMiB, remaining)));

  if (fits(others)) return { kind: 'fit', gpuIndices: gpus.map((g) => g.index), evict: [], freeAfter: minFree(others) };

  const onTheseGpus = (m: PlacedModel) => m.gpus.some((i) => gpus.some((g) => g.index === i));
  const candidates = others
    .filter((m) => onTheseGpus(m) && m.evictable && !m.busy && !m.pinned)
    .sort((a, b) => a.lastUsedAt - b.lastUsedAt);
  let remaining = others;
  const evict: string[] = [];
  for (const victim of candidates) {
    remaining = remaining.filter((m) => m.id !== victim.id);
    evict.push(victim.id);
    if (fits(remaining)) return { kind: 'fit', gpuIndices: gpus.map((g) => g.index), evict, freeAfter: minFree(remaining) };
  }
  // Could it fit if every unpinned model went away (busy ones finishing, starting ones done)?
  const unpinnedGone = others.filter((m) => m.pinned);
  if (fits(unpinnedGone)) {
    return { kind: 'wait', reason: `needs ${mib(req.budgetMiB)}; models in use hold the rest` };
  }
  const best = minFree(unpinnedGone);
  return {
    kind: 'impossible',
    reason: `needs ${mib(req.budgetMiB)} but at most ${mib(Math.max(0, best))} can be freed on GPU ${gpus.map((g) => g.index).join(',')} (pinned models and other processes hold the rest)`,
  };
}

/**
 * Plan a start. With `gpus: auto` every single GPU is tried: one that fits without eviction and has
 * the most memory available wins; else the one needing the fewest evictions; else wait/impossible.
 * A model given several GPUs needs its budget on each of them.
 */
export function planPlacement(
  gpus: readonly PlacementGpu[],
  reserveMiB: number,
  placed: readonly PlacedModel[],
  req: PlacementRequest,
): PlacementPlan {
  if (gpus.length === 0) return { kind: 'impossible', reason: 'no GPU is known to the gateway (gpu.probe found none)' };
  if (req.gpus !== 'auto') {
    const chosen: PlacementGpu[] = [];
    for (const i of req.gpus) {
      const g = gpus.find((x) => x.index === i);
      if (!g) return { kind: 'impossible', reason: `GPU ${i} does not exist (known: ${gpus.map((x) => x.index).join(', ')})` };
      chosen.push(g);
    }
    return strip(planOnGpus(chosen, reserveMiB, placed, req));
  }
  const plans = gpus.map((g) => planOnGpus([g], reserveMiB, placed, req));
  const fitting = plans.filter((p) => p.kind === 'fit') as Array<Extract<PlacementPlan, { kind: 'fit' }> & { freeAfter?: number }>;
  if (fitting.length > 0) {
    fitting.sort((a, b) => a.evict.length - b.evict.length || (b.freeAfter ?? 0) - (a.freeAfter ?? 0));
    return strip(fitting[0]);
  }
  const waiting = plans.find((p) => p.kind === 'wait');
  if (waiting) return strip(waiting);
  return strip(plans[0]);
}

function strip(p: PlacementPlan & { freeAfter?: number }): PlacementPlan {
  if (p.kind === 'fit') return { kind: 'fit', gpuIndices: p.gpuIndices, evict: p.evict };
  return p.kind === 'wait' ? { kind: 'wait', reason: p.reason } : { kind: 'impossible', reason: p.reason };
}

/** vLLM's --gpu-memory-utilization: budget ÷ the GPU's total, floored to 2 decimals, at least 0.01. */
export function gpuMemoryUtilization(vramGiB: number, gpuTotalMiB: number): number {
  const f = Math.floor(((vramGiB * 1024) / gpuTotalMiB) * 100 + 1e-9) / 100;
  return Math.min(1, Math.max(0.01, f));
}
