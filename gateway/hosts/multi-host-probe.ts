// The GPUs of every host as one probe (docs/hosts.md): this machine's probe and each remote
// host's (nvidia-smi over its ssh connection, or its static list), their readings merged with
// host-qualified ids (host-gpus.ts). A host that is not connected offers no GPUs (its last
// reading is not trusted while it is away), so placement passes it by.

import type { GpuProbe, GpuProcessReading, GpuReading, GpuSnapshot, ProbeState } from '../gpu/probe.js';
import type { HostGpuIds } from './host-gpus.js';

export interface HostProbe {
  host: string;
  probe: GpuProbe;
  /** Whether the host is reachable now (this machine always is). */
  connected(): boolean;
}

export class MultiHostProbe implements GpuProbe {
  readonly kind: GpuProbe['kind'];
  private readonly listeners = new Set<(s: GpuSnapshot) => void>();
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly ids: HostGpuIds,
    private readonly members: readonly HostProbe[],
  ) {
    this.kind = members[0]?.probe.kind ?? 'none';
  }

  start(): void {
    for (const m of this.members) {
      m.probe.start();
      this.unsubscribe.push(m.probe.onReading(() => this.emit()));
    }
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await Promise.all(this.members.map((m) => m.probe.stop()));
  }

  private emit(): void {
    const snap = this.state().snapshot;
    if (snap) for (const l of this.listeners) l(snap);
  }

  private merge(parts: ReadonlyArray<{ host: string; snap: GpuSnapshot }>): GpuSnapshot | null {
    if (parts.length === 0) return null;
    const gpus: GpuReading[] = [];
    const processes: GpuProcessReading[] = [];
    for (const { host, snap } of parts) {
      for (const g of snap.gpus) gpus.push({ ...g, index: this.ids.id(host, g.index), host, measured: snap.measured });
      for (const p of snap.processes) processes.push({ ...p, gpuIndex: this.ids.id(host, p.gpuIndex) });
    }
    return {
      // The oldest part: "a reading taken after T" must hold for every host's figures.
      at: Math.min(...parts.map((p) => p.snap.at)),
      gpus,
      processes,
      measured: parts.every((p) => p.snap.measured),
    };
  }

  state(): ProbeState {
    const parts: Array<{ host: string; snap: GpuSnapshot }> = [];
    const errors: string[] = [];
    let pollMs: number | null = null;
    for (const m of this.members) {
      const st = m.probe.state();
      if (st.pollMs !== null) pollMs = Math.max(pollMs ?? 0, st.pollMs);
      if (!m.connected()) continue; // the host's own state says why
      if (st.error) errors.push(this.members.length > 1 ? `${m.host}: ${st.error}` : st.error);
      if (st.snapshot) parts.push({ host: m.host, snap: st.snapshot });
    }
    return { snapshot: this.merge(parts), error: errors.length > 0 ? errors.join('; ') : null, pollMs };
  }

  async refresh(): Promise<GpuSnapshot> {
    const live = this.members.filter((m) => m.connected());
    const results = await Promise.allSettled(live.map((m) => m.probe.refresh()));
    const parts = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ host: live[i].host, snap: r.value }] : []));
    const merged = this.merge(parts);
    if (!merged) {
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      throw failed?.reason ?? new Error('no host has GPUs to read');
    }
    return merged;
  }

  onReading(cb: (snapshot: GpuSnapshot) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
}
