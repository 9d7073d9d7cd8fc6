// Placement (pure; ARCHITECTURE.md "Scheduling semantics"). Given what each GPU can offer and the
// models that hold budgets on them, decide where a model starts, which idle models to evict and,
// when that is not enough, which busy models that have had their turn must yield
// (`scheduling.swapAfterSeconds`). Eviction order (CONTRACT §2): idle ready models, least recently
// used first; then busy models whose turn is over, the longest-serving first. Pinned never.

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
  /** What it holds on EACH of its GPUs, MiB. */
  budgetMiB: number;
  /** Epoch ms of last use; least recently used is evicted first. */
  lastUsedAt: number;
  /** Requests in flight or queued (or a request ended under 0.5 s ago): never evicted at once (P10). */
  busy: boolean;
  pinned: boolean;
  /** Starting or stopping models hold their budget but are not candidates for eviction. */
  evictable: boolean;
  /**
   * When a busy model may be asked to yield its memory (it became ready `swapAfterSeconds` before);
   * null or absent: never (swapAfterSeconds 0, or not ready).
   */
  yieldableAt?: number | null;
}

export interface PlacementRequest {
  id: string;
  budgetMiB: number;
  gpus: 'auto' | number[];
}

export type PlacementPlan =
  | { kind: 'fit'; gpuIndices: number[]; evict: string[] }
  /** It fits once `yield` (busy models whose turn is over) finish what they serve and are evicted. */
  | { kind: 'yield'; gpuIndices: number[]; evict: string[]; yield: string[] }
  /** It would fit once busy (or starting/stopping) models are done: wait and plan again. */
  | { kind: 'wait'; gpuIndices: number[]; reason: string }
  /** It can never fit with the models that are pinned, or the GPUs are too small. */
  | { kind: 'impossible'; reason: string };

const mib = (n: number) => `${(n / 1024).toFixed(1)} GiB`;

/** Free budget on one GPU: total − reserved − reserve − other processes − budgets placed on it. */
export function availableMiB(gpu: PlacementGpu, reserveMiB: number, placed: readonly PlacedModel[]): number {
  const held = placed.filter((m) => m.gpus.includes(gpu.index)).reduce((sum, m) => sum + m.budgetMiB, 0);
  return gpu.totalMiB - gpu.reservedMiB - reserveMiB - gpu.otherMiB - held;
}

type Scored = PlacementPlan & { freeAfter?: number };

function planOnGpus(gpus: PlacementGpu[], reserveMiB: number, placed: readonly PlacedModel[], req: PlacementRequest, now: number): Scored {
  const gpuIndices = gpus.map((g) => g.index);
  const others = placed.filter((m) => m.id !== req.id);
  const fits = (remaining: readonly PlacedModel[]) => gpus.every((g) => availableMiB(g, reserveMiB, remaining) >= req.budgetMiB);
  const minFree = (remaining: readonly PlacedModel[]) => Math.min(...gpus.map((g) => availableMiB(g, reserveMiB, remaining)));
  const without = (list: readonly PlacedModel[], ids: readonly string[]) => list.filter((m) => !ids.includes(m.id));

  if (fits(others)) return { kind: 'fit', gpuIndices, evict: [], freeAfter: minFree(others) };

  const onTheseGpus = (m: PlacedModel) => m.gpus.some((i) => gpuIndices.includes(i));
  const idle = others.filter((m) => onTheseGpus(m) && m.evictable && !m.busy && !m.pinned).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
  const evict: string[] = [];
  for (const victim of idle) {
    evict.push(victim.id);
    const remaining = without(others, evict);
    if (fits(remaining)) return { kind: 'fit', gpuIndices, evict, freeAfter: minFree(remaining) };
  }
  const turnOver = others
    .filter((m) => onTheseGpus(m) && m.evictable && m.busy && !m.pinned && m.yieldableAt != null && m.yieldableAt <= now)
    .sort((a, b) => a.yieldableAt! - b.yieldableAt! || a.lastUsedAt - b.lastUsedAt);
  const yieldIds: string[] = [];
  for (const y of turnOver) {
    yieldIds.push(y.id);
    if (!fits(without(others, [...evict, ...yieldIds]))) continue;
    // The yields may have made some idle evictions unnecessary: keep the most recently used ones.
    const needed = [...evict];
    for (let i = needed.length - 1; i >= 0; i--) {
      const trial = needed.filter((_, j) => j !== i);
      if (fits(without(others, [...trial, ...yieldIds]))) needed.splice(i, 1);
    }
    return { kind: 'yield', gpuIndices, evict: needed, yield: yieldIds, freeAfter: minFree(without(others, [...needed, ...yieldIds])) };
  }
  // Could it fit if every unpinned model went away (busy ones finishing, starting ones done)?
  const unpinnedGone = others.filter((m) => m.pinned);
  if (fits(unpinnedGone)) {
    return { kind: 'wait', gpuIndices, reason: `needs ${mib(req.budgetMiB)}; models in use hold the rest` };
  }
  const best = minFree(unpinnedGone);
  return {
    kind: 'impossible',
    reason: `needs ${mib(req.budgetMiB)} but at most ${mib(Math.max(0, best))} can be freed on GPU ${gpuIndices.join(',')} (pinned models and other processes hold the rest)`,
  };
}

const RANK: Record<PlacementPlan['kind'], number> = { fit: 0, yield: 1, wait: 2, impossible: 3 };

/**
 * Plan a start at time `now` (which busy models' turns are over). With `gpus: auto` every single
 * GPU is tried: one that fits without eviction and has the most memory available wins; else the
 * one needing the fewest evictions; else the fewest yields; else wait/impossible. A model given
 * several GPUs needs its budget on each of them.
 */
export function planPlacement(
  gpus: readonly PlacementGpu[],
  reserveMiB: number,
  placed: readonly PlacedModel[],
  req: PlacementRequest,
  now = 0,
): PlacementPlan {
  if (gpus.length === 0) return { kind: 'impossible', reason: 'no GPU is known to the gateway (gpu.probe found none)' };
  if (req.gpus !== 'auto') {
    const chosen: PlacementGpu[] = [];
    for (const i of req.gpus) {
      const g = gpus.find((x) => x.index === i);
      if (!g) return { kind: 'impossible', reason: `GPU ${i} does not exist (known: ${gpus.map((x) => x.index).join(', ')})` };
      chosen.push(g);
    }
    return strip(planOnGpus(chosen, reserveMiB, placed, req, now));
  }
  const plans = gpus.map((g) => planOnGpus([g], reserveMiB, placed, req, now));
  const cost = (p: Scored) => [
    RANK[p.kind],
    p.kind === 'yield' ? p.yield.length : 0,
    p.kind === 'fit' || p.kind === 'yield' ? p.evict.length : 0,
    -(p.freeAfter ?? 0),
  ];
  const best = plans
    .map((p, i) => ({ p, i, c: cost(p) }))
    .sort((a, b) => {
      for (let k = 0; k < a.c.length; k++) if (a.c[k] !== b.c[k]) return a.c[k] - b.c[k];
      return a.i - b.i;
    })[0].p;
  // An impossible plan reports the first GPU's reason, as before ranking existed.
  return strip(best.kind === 'impossible' ? plans[0] : best);
}

function strip(p: Scored): PlacementPlan {
  switch (p.kind) {
    case 'fit':
      return { kind: 'fit', gpuIndices: p.gpuIndices, evict: p.evict };
    case 'yield':
      return { kind: 'yield', gpuIndices: p.gpuIndices, evict: p.evict, yield: p.yield };
    case 'wait':
      return { kind: 'wait', gpuIndices: p.gpuIndices, reason: p.reason };
    default:
      return { kind: 'impossible', reason: p.reason };
  }
}

/** vLLM's --gpu-memory-utilization: budget ÷ the GPU's total, floored to 2 decimals, at least 0.01. */
export function gpuMemoryUtilization(vramGiB: number, gpuTotalMiB: number): number {
  const f = Math.floor(((vramGiB * 1024) / gpuTotalMiB) * 100 + 1e-9) / 100;
  return Math.min(1, Math.max(0.01, f));
}
