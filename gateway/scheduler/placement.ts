// Placement (pure; docs/scheduling.md). Given what each GPU can offer and the
// models that hold budgets on them, decide where a model starts, which idle models to evict and,
// when that is not enough, which busy models that have had their turn must yield
// (`scheduling.swapAfterSeconds`). Eviction order (docs/scheduling.md): idle ready models, least
// recently used first, each put to sleep when it can sleep and the host RAM budget has room for it
// (else stopped); then sleeping models, least recently used first (stopped); then busy models whose
// turn is over, the longest-serving first. Pinned never. A sleeper holds only its residue on its
// GPUs and, at level 1, its weights in host RAM.

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
  /**
   * vLLM sleep mode: what the model holds once asleep (on each of its GPUs, and in host RAM); null or
   * absent: it cannot sleep (level 0, not ready). For a sleeper (`asleep`), what it holds now.
   */
  sleep?: { residualMiB: number; hostRamMiB: number } | null;
  /** A sleeper: `budgetMiB` is its residue; evicting it stops it (the second tier). */
  asleep?: boolean;
}

export interface PlacementRequest {
  id: string;
  budgetMiB: number;
  gpus: 'auto' | number[];
}

/**
 * `evict`: models to stop; `sleep` (present when not empty): idle models to put to sleep instead,
 * which then hold only their residue.
 */
export type PlacementPlan =
  | { kind: 'fit'; gpuIndices: number[]; evict: string[]; sleep?: string[] }
  /** It fits once `yield` (busy models whose turn is over) finish what they serve and are evicted. */
  | { kind: 'yield'; gpuIndices: number[]; evict: string[]; yield: string[]; sleep?: string[] }
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

/** Host RAM the sleepers in `placed` hold (level-1 sleepers keep their weights there). */
export function hostRamHeldMiB(placed: readonly PlacedModel[]): number {
  return placed.reduce((sum, m) => sum + (m.asleep ? (m.sleep?.hostRamMiB ?? 0) : 0), 0);
}

/**
 * Room in the host RAM budget for `sleeper` to fall asleep (level 1 holds its weights there): the
 * sleepers to stop first, least recently used first and only ones used less recently than it (host
 * RAM is one budget for every GPU: older sleepers make room for a more recent one); [] when it fits
 * as things are; null when it cannot have the room (it is stopped instead of put to sleep).
 */
export function hostRamRoom(
  placed: readonly PlacedModel[],
  sleeper: Pick<PlacedModel, 'id' | 'lastUsedAt' | 'sleep'>,
  hostRamBudgetMiB: number,
): string[] | null {
  const need = sleeper.sleep?.hostRamMiB ?? 0;
  if (need <= 0) return [];
  const others = placed.filter((m) => m.id !== sleeper.id);
  let free = hostRamBudgetMiB - hostRamHeldMiB(others);
  const older = others
    .filter((m) => m.asleep && !m.pinned && (m.sleep?.hostRamMiB ?? 0) > 0 && m.lastUsedAt < sleeper.lastUsedAt)
    .sort((a, b) => a.lastUsedAt - b.lastUsedAt);
  const make: string[] = [];
  for (const o of older) {
    if (free >= need) break;
    make.push(o.id);
    free += o.sleep!.hostRamMiB;
  }
  return free >= need ? make : null;
}

/** The model as a sleeper: it holds its residue on its GPUs and its weights in host RAM. */
const asSleeper = (m: PlacedModel): PlacedModel => ({ ...m, budgetMiB: m.sleep!.residualMiB, asleep: true, busy: false, evictable: true });

/**
 * Takes models off these GPUs in the order of the eviction tiers, one at a time, until `fits`:
 * idle ready models LRU (put to sleep when they can and the host RAM budget has room, making room
 * there by stopping sleepers used less recently; else stopped), then sleepers LRU (stopped; one
 * just put to sleep is stopped instead). Returns what it did, or null when that is not enough.
 */
function displace(
  others: readonly PlacedModel[],
  onTheseGpus: (m: PlacedModel) => boolean,
  fits: (remaining: readonly PlacedModel[]) => boolean,
  hostRamBudgetMiB: number,
):
  | { remaining: PlacedModel[]; evict: string[]; sleep: string[] }
  | { remaining: PlacedModel[]; evict: string[]; sleep: string[]; short: true } {
  let cur = [...others];
  const evict: string[] = [];
  const sleep: string[] = [];
  const stop = (id: string) => {
    cur = cur.filter((m) => m.id !== id);
    const at = sleep.indexOf(id);
    if (at >= 0) sleep.splice(at, 1);
    evict.push(id);
  };
  const idle = others
    .filter((m) => onTheseGpus(m) && m.evictable && !m.busy && !m.pinned && !m.asleep)
    .sort((a, b) => a.lastUsedAt - b.lastUsedAt);
  for (const victim of idle) {
    const s = victim.sleep;
    let sleeps = s != null && s.residualMiB < victim.budgetMiB;
    if (sleeps) {
      const make = hostRamRoom(cur, victim, hostRamBudgetMiB);
      if (make) for (const id of make) stop(id);
      else sleeps = false;
    }
    if (sleeps) {
      cur = cur.map((m) => (m.id === victim.id ? asSleeper(m) : m));
      sleep.push(victim.id);
    } else stop(victim.id);
    if (fits(cur)) return { remaining: cur, evict, sleep };
  }
  const sleepers = cur.filter((m) => onTheseGpus(m) && m.asleep && !m.pinned).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
  for (const s of sleepers) {
    stop(s.id);
    if (fits(cur)) return { remaining: cur, evict, sleep };
  }
  return { remaining: cur, evict, sleep, short: true };
}

function planOnGpus(
  gpus: PlacementGpu[],
  reserveMiB: number,
  placed: readonly PlacedModel[],
  req: PlacementRequest,
  now: number,
  hostRamBudgetMiB: number,
): Scored {
  const gpuIndices = gpus.map((g) => g.index);
  const others = placed.filter((m) => m.id !== req.id);
  const fits = (remaining: readonly PlacedModel[]) => gpus.every((g) => availableMiB(g, reserveMiB, remaining) >= req.budgetMiB);
  const minFree = (remaining: readonly PlacedModel[]) => Math.min(...gpus.map((g) => availableMiB(g, reserveMiB, remaining)));
  const withSleep = (sleep: string[]) => (sleep.length > 0 ? { sleep } : {});

  if (fits(others)) return { kind: 'fit', gpuIndices, evict: [], freeAfter: minFree(others) };

  const onTheseGpus = (m: PlacedModel) => m.gpus.some((i) => gpuIndices.includes(i));
  const d = displace(others, onTheseGpus, fits, hostRamBudgetMiB);
  if (!('short' in d)) return { kind: 'fit', gpuIndices, evict: d.evict, ...withSleep(d.sleep), freeAfter: minFree(d.remaining) };

  // Busy models whose turn is over yield; once idle they are evicted like any idle model (asleep if
  // they can sleep), so count each as what it leaves behind.
  const leaves = (list: readonly PlacedModel[], ids: readonly string[]) =>
    list.flatMap((m) => (!ids.includes(m.id) ? [m] : m.sleep && m.sleep.residualMiB < m.budgetMiB ? [asSleeper(m)] : []));
  const turnOver = others
    .filter((m) => onTheseGpus(m) && m.evictable && m.busy && !m.pinned && !m.asleep && m.yieldableAt != null && m.yieldableAt <= now)
    .sort((a, b) => a.yieldableAt! - b.yieldableAt! || a.lastUsedAt - b.lastUsedAt);
  const yieldIds: string[] = [];
  for (const y of turnOver) {
    yieldIds.push(y.id);
    const fitsWithYields = (remaining: readonly PlacedModel[]) => fits(leaves(remaining, yieldIds));
    if (!fitsWithYields(d.remaining)) continue;
    // The yields may make some evictions unnecessary: plan them again with the yielders gone.
    const again = displace(others, onTheseGpus, fitsWithYields, hostRamBudgetMiB);
    const plan = 'short' in again ? d : again;
    return {
      kind: 'yield',
      gpuIndices,
      evict: plan.evict,
      yield: yieldIds,
      ...withSleep(plan.sleep),
      freeAfter: minFree(leaves(plan.remaining, yieldIds)),
    };
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
  /** Host RAM every level-1 sleeper may hold together (`scheduling.sleepHostRamGiB`). */
  hostRamBudgetMiB = Infinity,
): PlacementPlan {
  if (gpus.length === 0) return { kind: 'impossible', reason: 'no GPU is known to the gateway (gpu.probe found none)' };
  if (req.gpus !== 'auto') {
    const chosen: PlacementGpu[] = [];
    for (const i of req.gpus) {
      const g = gpus.find((x) => x.index === i);
      if (!g) return { kind: 'impossible', reason: `GPU ${i} does not exist (known: ${gpus.map((x) => x.index).join(', ')})` };
      chosen.push(g);
    }
    return strip(planOnGpus(chosen, reserveMiB, placed, req, now, hostRamBudgetMiB));
  }
  const plans = gpus.map((g) => planOnGpus([g], reserveMiB, placed, req, now, hostRamBudgetMiB));
  // Fewest models displaced; a sleep costs less than a stop (it wakes in seconds).
  const displaced = (p: Scored) => (p.kind === 'fit' || p.kind === 'yield' ? p.evict.length + (p.sleep?.length ?? 0) : 0);
  const cost = (p: Scored) => [
    RANK[p.kind],
    p.kind === 'yield' ? p.yield.length : 0,
    displaced(p),
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
      return { kind: 'fit', gpuIndices: p.gpuIndices, evict: p.evict, ...(p.sleep?.length ? { sleep: p.sleep } : {}) };
    case 'yield':
      return { kind: 'yield', gpuIndices: p.gpuIndices, evict: p.evict, yield: p.yield, ...(p.sleep?.length ? { sleep: p.sleep } : {}) };
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
