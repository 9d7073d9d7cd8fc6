// GPUs assumed from config (`gpu.static`): nothing is measured. Placement and the status
// document then count the budgets of the models starting or ready (docs/status.md).

import type { GpuProbe, GpuReading, GpuSnapshot, ProbeState } from './probe.js';

export interface StaticGpuSpec {
  name: string;
  totalGiB: number;
}

/** The configured GPUs as readings: index in list order, total = round(totalGiB × 1024) MiB. */
export function staticGpuReadings(specs: ReadonlyArray<StaticGpuSpec>): GpuReading[] {
  return specs.map((s, index) => {
    const totalMiB = Math.round(s.totalGiB * 1024);
    return {
      index,
      uuid: null,
      name: s.name,
      totalMiB,
      usedMiB: 0,
      freeMiB: totalMiB,
      reservedMiB: 0,
      utilizationPercent: null,
      temperatureC: null,
      powerW: null,
    };
  });
}

export class StaticProbe implements GpuProbe {
  readonly kind = 'static' as const;
  private readonly gpus: GpuReading[];
  private readonly now: () => number;
  private snapshot: GpuSnapshot;
  private readonly listeners = new Set<(s: GpuSnapshot) => void>();

  constructor(specs: ReadonlyArray<StaticGpuSpec>, opts: { now?: () => number } = {}) {
    this.gpus = staticGpuReadings(specs);
    this.now = opts.now ?? Date.now;
    this.snapshot = this.take();
  }

  private take(): GpuSnapshot {
    return { at: this.now(), gpus: this.gpus.map((g) => ({ ...g })), processes: [], measured: false };
  }

  start(): void {}

  stop(): void {}

  state(): ProbeState {
    return { snapshot: this.snapshot, error: null, pollMs: 0 };
  }

  async refresh(): Promise<GpuSnapshot> {
    this.snapshot = this.take();
    for (const cb of [...this.listeners]) {
      try {
        cb(this.snapshot);
      } catch {
        // ignore a subscriber's failure
      }
    }
    return this.snapshot;
  }

  onReading(cb: (snapshot: GpuSnapshot) => void): () => void {
    this.listeners.add(cb);
    return () => {
      this.listeners.delete(cb);
    };
  }
}
