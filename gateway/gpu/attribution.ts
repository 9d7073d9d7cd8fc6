// Who holds the memory on each GPU. Pure. (How much is left for a start is placement.ts's: availableMiB.)
//
// Measured snapshot (nvidia-smi): each compute process's memory goes to the managed model
// whose pid set holds its pid (process runtime: the server's process tree; Docker: the
// container's host pids). Per GPU, otherMiB = usedMiB − the models' share: that covers
// processes the gateway does not manage, processes nvidia-smi cannot list (other PID
// namespaces), per-context overhead, and memory of a stopped process not yet released. This is
// docs/status.md's arithmetic (31247 used − 19800 model = 11447 other).
//
// Unmeasured snapshot (static / systeminformation): nothing is known but the budgets. A model
// that is active (starting or ready) holds its budget on each of its GPUs; the GPU's usedMiB
// is the sum of those, freeMiB = total − reserved − used, otherMiB 0, and a model's
// vramUsedMiB is null (not measured).

import type { GpuSnapshot } from './probe.js';

export interface ManagedModel {
  /** Host pids of the model's server and its descendants. */
  pids: ReadonlySet<number>;
  /** GPUs it runs on (or was placed on). */
  gpus: readonly number[];
  /** Its budget on EACH of its GPUs, MiB (vramGiB × 1024). */
  budgetMiB: number;
  /** Starting or ready: its budget is committed. */
  active: boolean;
}

export interface GpuAttribution {
  index: number;
  /** Used memory as shown: measured, or on an unmeasured GPU the active models' budgets. */
  usedMiB: number;
  freeMiB: number;
  /** Models with memory on this GPU, in the order of the models map. */
  models: Array<{ id: string; usedMiB: number }>;
  otherMiB: number;
}

export interface Attribution {
  /** One per GPU of the snapshot, same order. */
  gpus: GpuAttribution[];
  /** Per managed model: measured memory summed over its GPUs; null when not measured. */
  models: Map<string, { vramUsedMiB: number | null }>;
}

export function attributeGpuMemory(snapshot: GpuSnapshot, models: ReadonlyMap<string, ManagedModel>): Attribution {
  const gpuIndexes = new Set(snapshot.gpus.map((g) => g.index));
  const perGpu = new Map<number, Map<string, number>>(snapshot.gpus.map((g) => [g.index, new Map()]));
  const modelTotals = new Map<string, { vramUsedMiB: number | null }>();

  if (snapshot.measured) {
    const owner = new Map<number, string>();
    for (const [id, m] of models) {
      modelTotals.set(id, { vramUsedMiB: 0 });
      for (const pid of m.pids) if (!owner.has(pid)) owner.set(pid, id);
    }
    for (const p of snapshot.processes) {
      const id = owner.get(p.pid);
      if (id === undefined || !gpuIndexes.has(p.gpuIndex)) continue;
      const onGpu = perGpu.get(p.gpuIndex)!;
      onGpu.set(id, (onGpu.get(id) ?? 0) + p.usedMiB);
      const t = modelTotals.get(id)!;
      t.vramUsedMiB = (t.vramUsedMiB ?? 0) + p.usedMiB;
    }
  } else {
    for (const [id, m] of models) {
      modelTotals.set(id, { vramUsedMiB: null });
      if (!m.active) continue;
      for (const gi of new Set(m.gpus)) {
        const onGpu = perGpu.get(gi);
        if (onGpu) onGpu.set(id, (onGpu.get(id) ?? 0) + m.budgetMiB);
      }
    }
  }

  const order = [...models.keys()];
  const gpus = snapshot.gpus.map((g): GpuAttribution => {
    const onGpu = perGpu.get(g.index)!;
    const list = order.filter((id) => onGpu.has(id)).map((id) => ({ id, usedMiB: onGpu.get(id)! }));
    const modelsMiB = list.reduce((s, m) => s + m.usedMiB, 0);
    if (snapshot.measured) {
      return { index: g.index, usedMiB: g.usedMiB, freeMiB: g.freeMiB, models: list, otherMiB: Math.max(0, g.usedMiB - modelsMiB) };
    }
    return {
      index: g.index,
      usedMiB: modelsMiB,
      freeMiB: Math.max(0, g.totalMiB - g.reservedMiB - modelsMiB),
      models: list,
      otherMiB: 0,
    };
  });
  return { gpus, models: modelTotals };
}
