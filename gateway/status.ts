// Builds the status document (docs/status.md) from the scheduler's live state and the GPU probe.
// Counts come from the live request sets (ModelEntry.toStatus), never from separate counters.

import type { GatewayConfig } from './config/types.js';
import { attributeGpuMemory } from './gpu/attribution.js';
import type { GpuProbe } from './gpu/probe.js';
import type { Scheduler } from './scheduler/scheduler.js';
import type { EngineStatus, GpuStatus, HostStatus, ModelStatus, RecentRequest, StatusDocument } from './status-types.js';
import type { HostGpuIds } from './hosts/host-gpus.js';

export const VERSION = '0.1.0';

export interface StatusSources {
  config: GatewayConfig;
  scheduler: Scheduler;
  gpu: GpuProbe | null;
  startedAt: Date;
  listen: () => string;
  recent: () => RecentRequest[];
  host: () => StatusDocument['host'];
  /** The model's engine figures (gateway/engine/); absent: null for every model. */
  engine?: (id: string) => EngineStatus | null;
  /** Remote hosts (docs/hosts.md): GPU ids are host-qualified; the document names host and index. */
  hosts?: { ids: HostGpuIds; status(): HostStatus[] } | null;
}

/**
 * Each GPU's memory in use as the status document shows it (the same attribution), without the
 * rest of the document: the history samples it every poll interval.
 */
export function gpuMemory(
  src: Pick<StatusSources, 'gpu' | 'scheduler' | 'hosts'>,
): Array<{ index: number; name: string; totalMiB: number; usedMiB: number; label?: string }> {
  const snap = src.gpu?.state().snapshot;
  if (!snap) return [];
  const a = attributeGpuMemory(snap, src.scheduler.managedModels(false));
  const ids = src.hosts?.ids;
  return snap.gpus.map((g, i) => ({
    index: g.index,
    name: g.name,
    totalMiB: g.totalMiB,
    usedMiB: a.gpus[i].usedMiB,
    // With remote hosts `index` is host-qualified (it keys the series); the label names host and index.
    ...(ids ? { label: `${ids.of(g.index).host} GPU ${ids.of(g.index).index}` } : {}),
  }));
}

export function buildStatus(src: StatusSources): StatusDocument {
  const entries = [...src.scheduler.entries.values()];
  const probeState = src.gpu?.state() ?? null;
  const snap = probeState?.snapshot ?? null;
  const measured = snap?.measured ?? false;
  // One attribution for the whole document, so per-model and per-GPU figures agree.
  const attribution = snap ? attributeGpuMemory(snap, src.scheduler.managedModels(false)) : null;
  const models: ModelStatus[] = entries.map((e) => {
    const s = e.toStatus();
    if (measured) s.vramUsedMiB = e.instance ? (attribution!.models.get(e.id)?.vramUsedMiB ?? null) : null;
    // On a static GPU nothing is measured: a model holding its budget is shown as using it.
    else if (e.holdsGpu) s.vramUsedMiB = src.scheduler.heldMiB(e); // a sleeper: its residue
    s.engine = src.engine?.(e.id) ?? null;
    return s;
  });
  const source: GpuStatus['source'] = measured ? 'nvidia-smi' : src.gpu?.kind === 'systeminformation' ? 'systeminformation' : 'static';
  const gpus: GpuStatus[] = (snap?.gpus ?? []).map((g, i) => {
    const a = attribution!.gpus[i];
    return {
      index: g.index,
      name: g.name,
      totalMiB: g.totalMiB,
      usedMiB: a.usedMiB,
      freeMiB: a.freeMiB,
      reservedMiB: g.reservedMiB,
      models: a.models,
      otherMiB: a.otherMiB,
      // A host's own probe says whether its figures are measured (others may be static).
      source: g.measured === undefined ? source : g.measured ? 'nvidia-smi' : 'static',
      utilizationPercent: g.utilizationPercent,
      temperatureC: g.temperatureC,
      powerW: g.powerW,
    };
  });
  if (src.hosts) {
    const ids = src.hosts.ids;
    for (const m of models) {
      m.host = m.gpus.length > 0 ? ids.hostOf(m.gpus[0]) : null;
      m.gpus = m.gpus.map((i) => ids.of(i).index);
    }
    for (const g of gpus) {
      const at = ids.of(g.index);
      g.host = at.host;
      g.index = at.index;
    }
  }
  return {
    ...(src.hosts ? { hosts: src.hosts.status() } : {}),
    version: VERSION,
    startedAt: src.startedAt.toISOString(),
    listen: src.listen(),
    models,
    gpus,
    limits: { maxQueuePerModel: src.config.limits.maxQueuePerModel, maxConcurrentPerModel: src.config.limits.maxConcurrentPerModel },
    gpuProbe: {
      kind: src.gpu?.kind ?? 'none',
      available: !!snap && !probeState?.error,
      error: probeState?.error ?? (src.gpu ? null : 'no GPU found: install the NVIDIA driver (nvidia-smi) or configure gpu.static'),
      ageMs: snap ? Date.now() - snap.at : null,
      pollMs: probeState?.pollMs ?? null,
    },
    host: src.host(),
    recentRequests: src.recent(),
    configPath: src.config.sourcePath,
  };
}
