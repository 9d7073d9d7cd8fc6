// GpuView pairs a measured reading with the servers' PIDs read after it (gateway/scheduler/gpu-view.ts).
// The probe stores a reading before the PIDs are read for it; a server started since the last
// pass has none yet. Attributing that reading would count the server's memory as other processes'
// (test/integration/gpu-sleep.test.ts's wake refused insufficient_vram under load).
import { describe, expect, it } from 'vitest';
import type { GpuProbe, GpuSnapshot } from '../../gateway/gpu/probe.js';
import { silentLogger } from '../../gateway/logger.js';
import { serverEffects } from '../../gateway/scheduler/effects.js';
import { GpuView } from '../../gateway/scheduler/gpu-view.js';
import type { ModelEntry } from '../../gateway/scheduler/model-entry.js';

/** A measured probe whose readings the test hands out. */
class HandProbe implements GpuProbe {
  readonly kind = 'nvidia-smi' as const;
  private snap: GpuSnapshot | null = null;
  private readonly listeners = new Set<(s: GpuSnapshot) => void>();
  start(): void {}
  stop(): void {}
  state() {
    return { snapshot: this.snap, error: null, pollMs: 1 };
  }
  refresh(): Promise<GpuSnapshot> {
    return Promise.resolve(this.snap!);
  }
  onReading(cb: (s: GpuSnapshot) => void) {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
  read(snap: GpuSnapshot): void {
    this.snap = snap;
    for (const cb of this.listeners) cb(snap);
  }
}

function reading(at: number, processes: GpuSnapshot['processes']): GpuSnapshot {
  const used = processes.reduce((s, p) => s + p.usedMiB, 0);
  return {
    at,
    measured: true,
    processes,
    gpus: [
      {
        index: 0,
        uuid: null,
        name: 'G',
        totalMiB: 24576,
        usedMiB: used,
        freeMiB: 24576 - 616 - used,
        reservedMiB: 616,
        utilizationPercent: null,
        temperatureC: null,
        powerW: null,
      },
    ],
  };
}

/** The parts of a ModelEntry GpuView reads: a ready server whose pids() answers when told. */
function readyEntry(id: string, pid: number) {
  let answer!: (pids: number[]) => void;
  const asked = new Promise<number[]>((r) => (answer = r));
  const entry = {
    id,
    config: { runtime: 'process' },
    holdsGpu: true,
    holdsBudget: true,
    budgetMiB: 14336,
    gpuIndices: [0],
    state: 'ready',
    pids: new Set<number>(),
    instance: { pids: () => asked },
  };
  return { entry: entry as unknown as ModelEntry, answerPids: () => answer([pid]) };
}

describe('GpuView: a measured reading is attributed with PIDs read after it', () => {
  it('a new server’s memory is not "other" while its PIDs are being read', async () => {
    const probe = new HandProbe();
    const b = readyEntry('b', 4242);
    let settled = 0;
    const view = new GpuView({
      gpu: probe,
      models: new Map([['b', b.entry]]),
      now: () => 2000,
      reserveMiB: 512,
      log: silentLogger,
      effects: serverEffects,
      onFirstReading: () => settled++,
      onPidsRead: () => {},
    });
    probe.read(reading(1000, [{ pid: 4242, gpuIndex: 0, usedMiB: 14336 }]));
    // The reading is stored, b's PIDs are not read yet: placement waits rather than count b as other.
    expect(view.placementGpusNow()).toBeNull();
    b.answerPids();
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(1); // placement is asked to decide again
    expect(view.placementGpusNow()).toEqual([{ index: 0, totalMiB: 24576, reservedMiB: 616, otherMiB: 0 }]);
    view.close();
  });
});
