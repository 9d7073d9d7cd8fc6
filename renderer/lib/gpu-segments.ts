// How a GPU's bar is divided: one segment per model (measured use filled, budget outlined),
// memory held by other processes, memory reserved by the driver, and free memory. Pure.
import type { GpuStatus, ModelStatus } from '../../gateway/status-types.js';

export interface ModelSegment {
  kind: 'model';
  id: string;
  /** Measured use on this GPU (MiB), 0 when not measured yet. */
  usedMiB: number;
  /** The model's budget on this GPU (MiB), null when unknown. */
  budgetMiB: number | null;
  /** Width the segment takes in the bar: max(used, budget); a sleeper's only its residue. */
  spanMiB: number;
  /** Asleep (vLLM sleep mode): it holds only a residue here, its budget is free for others. */
  sleeping: boolean;
  /** Host RAM it holds while asleep, when known. */
  hostRamMiB: number | null;
}

export interface PlainSegment {
  kind: 'other' | 'reserved' | 'free';
  spanMiB: number;
}

export type Segment = ModelSegment | PlainSegment;

const HOLDS_VRAM = new Set<ModelStatus['state']>(['pulling', 'starting', 'ready', 'waking', 'stopping']);

export function gpuSegments(gpu: GpuStatus, models: readonly ModelStatus[]): Segment[] {
  const byId = new Map<string, ModelSegment>();
  for (const m of gpu.models) {
    const status = models.find((x) => x.id === m.id);
    const sleeping = status?.state === 'sleeping';
    byId.set(m.id, {
      kind: 'model',
      id: m.id,
      usedMiB: Math.max(0, m.usedMiB),
      budgetMiB: sleeping ? null : (status?.vramBudgetMiB ?? null),
      spanMiB: 0,
      sleeping,
      hostRamMiB: sleeping ? (status?.sleepHostRamMiB ?? null) : null,
    });
  }
  // Models placed on this GPU that hold (or are about to hold) memory but have no measurement yet.
  for (const m of models) {
    // With remote hosts, indices repeat across hosts: a model is on this GPU only on its host.
    const onHost = gpu.host === undefined || (m.host ?? 'local') === gpu.host;
    if (!onHost || !m.gpus.includes(gpu.index) || byId.has(m.id)) continue;
    if (m.state === 'sleeping') {
      byId.set(m.id, {
        kind: 'model',
        id: m.id,
        usedMiB: Math.max(0, m.vramUsedMiB ?? 0),
        budgetMiB: null,
        spanMiB: 0,
        sleeping: true,
        hostRamMiB: m.sleepHostRamMiB ?? null,
      });
      continue;
    }
    if (!HOLDS_VRAM.has(m.state) || m.vramBudgetMiB === null) continue;
    byId.set(m.id, {
      kind: 'model',
      id: m.id,
      usedMiB: 0,
      budgetMiB: m.vramBudgetMiB,
      spanMiB: 0,
      sleeping: false,
      hostRamMiB: null,
    });
  }
  const segs = [...byId.values()]
    .map((s) => ({ ...s, spanMiB: Math.max(s.usedMiB, s.budgetMiB ?? 0) }))
    .sort((a, b) => a.id.localeCompare(b.id));

  const total = Math.max(0, gpu.totalMiB);
  const other = Math.max(0, gpu.otherMiB);
  const reserved = Math.max(0, gpu.reservedMiB);
  let modelSpan = segs.reduce((n, s) => n + s.spanMiB, 0);
  // Budgets can claim more than is left (outlines are promises, not measurements): scale them to fit.
  const room = Math.max(0, total - other - reserved);
  if (modelSpan > room && modelSpan > 0) {
    const k = room / modelSpan;
    for (const s of segs) s.spanMiB *= k;
    modelSpan = room;
  }
  const free = Math.max(0, total - other - reserved - modelSpan);
  const out: Segment[] = [...segs];
  if (other > 0) out.push({ kind: 'other', spanMiB: other });
  if (reserved > 0) out.push({ kind: 'reserved', spanMiB: reserved });
  out.push({ kind: 'free', spanMiB: free });
  return out;
}

export function percent(part: number, total: number): number {
  if (!(total > 0)) return 0;
  return Math.max(0, Math.min(100, (part / total) * 100));
}
