import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { attributeGpuMemory, availableBySnapshot, availableMiB, type ManagedModel } from '../../gateway/gpu/attribution.js';
import { parseNvidiaSmi } from '../../gateway/gpu/nvidia-smi-parse.js';
import type { GpuReading, GpuSnapshot } from '../../gateway/gpu/probe.js';
import { staticGpuReadings } from '../../gateway/gpu/static-probe.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/nvidia-smi/${name}`, import.meta.url)), 'utf8');

function gpu(index: number, over: Partial<GpuReading> = {}): GpuReading {
  return {
    index,
    uuid: `GPU-${index}`,
    name: 'NVIDIA H200',
    totalMiB: 143771,
    usedMiB: 0,
    freeMiB: 143155,
    reservedMiB: 616,
    utilizationPercent: 0,
    temperatureC: 40,
    powerW: 80,
    ...over,
  };
}

function model(pids: number[], gpus: number[], budgetMiB: number, active = true): ManagedModel {
  return { pids: new Set(pids), gpus, budgetMiB, active };
}

describe('attributeGpuMemory, measured', () => {
  it('real two-process capture: one process is a model, the other is "other"', () => {
    const { gpus, processes } = parseNvidiaSmi(fixture('h200-query-gpu-two.csv'), fixture('h200-query-apps-two.csv'));
    const snap: GpuSnapshot = { at: 1, gpus, processes, measured: true };
    const a = attributeGpuMemory(snap, new Map([['qwen', model([1880], [0], 30 * 1024)]]));
    expect(a.gpus).toEqual([
      { index: 0, usedMiB: 52435, freeMiB: 90722, models: [{ id: 'qwen', usedMiB: 31330 }], otherMiB: 52435 - 31330 },
    ]);
    expect(a.models.get('qwen')).toEqual({ vramUsedMiB: 31330 });
  });

  it('real busy capture: the contract arithmetic, other = used − models', () => {
    const { gpus, processes } = parseNvidiaSmi(fixture('h200-query-gpu-busy.csv'), fixture('h200-query-apps-busy.csv'));
    const a = attributeGpuMemory({ at: 1, gpus, processes, measured: true }, new Map([['m', model([485], [0], 32768)]]));
    expect(a.gpus[0]!.models).toEqual([{ id: 'm', usedMiB: 31238 }]);
    expect(a.gpus[0]!.otherMiB).toBe(9); // context overhead nvidia-smi lists for no process
  });

  it('sums a model over its child pids and GPUs; a stopped model reads 0', () => {
    const snap: GpuSnapshot = {
      at: 1,
      gpus: [gpu(0, { usedMiB: 30000 }), gpu(1, { usedMiB: 21000 })],
      processes: [
        { pid: 100, gpuIndex: 0, usedMiB: 500 },
        { pid: 101, gpuIndex: 0, usedMiB: 19500 },
        { pid: 102, gpuIndex: 1, usedMiB: 20000 },
        { pid: 999, gpuIndex: 0, usedMiB: 4000 },
      ],
      measured: true,
    };
    const models = new Map([
      ['big', model([100, 101, 102], [0, 1], 20480)],
      ['idle', model([], [0], 10240, false)],
    ]);
    const a = attributeGpuMemory(snap, models);
    expect(a.models.get('big')).toEqual({ vramUsedMiB: 40000 });
    expect(a.models.get('idle')).toEqual({ vramUsedMiB: 0 });
    expect(a.gpus[0]).toMatchObject({ models: [{ id: 'big', usedMiB: 20000 }], otherMiB: 10000 });
    expect(a.gpus[1]).toMatchObject({ models: [{ id: 'big', usedMiB: 20000 }], otherMiB: 1000 });
  });
});

describe('attributeGpuMemory, static (unmeasured)', () => {
  it('active models hold their budget on each of their GPUs; others nothing', () => {
    const snap: GpuSnapshot = {
      at: 1,
      gpus: staticGpuReadings([
        { name: 'Simulated GPU', totalGiB: 24 },
        { name: 'Sim', totalGiB: 48 },
      ]),
      processes: [],
      measured: false,
    };
    const models = new Map([
      ['a', model([1], [0], 8192)],
      ['tp', model([2], [0, 1], 4096)],
      ['stopped', model([], [1], 9999, false)],
    ]);
    const r = attributeGpuMemory(snap, models);
    expect(r.gpus[0]).toEqual({
      index: 0,
      usedMiB: 12288,
      freeMiB: 24576 - 12288,
      models: [
        { id: 'a', usedMiB: 8192 },
        { id: 'tp', usedMiB: 4096 },
      ],
      otherMiB: 0,
    });
    expect(r.gpus[1]).toEqual({ index: 1, usedMiB: 4096, freeMiB: 49152 - 4096, models: [{ id: 'tp', usedMiB: 4096 }], otherMiB: 0 });
    expect(r.models.get('a')).toEqual({ vramUsedMiB: null });
  });
});

describe('availableMiB', () => {
  it('static: total − reserve − Σ budgets', () => {
    expect(
      availableMiB({
        totalMiB: 24576,
        reservedMiB: 0,
        usedMiB: 0,
        reserveMiB: 512,
        activeModels: [{ budgetMiB: 8192, measuredMiB: null }],
      }),
    ).toBe(24576 - 512 - 8192);
  });

  it('measured: other processes lower it', () => {
    const base = { totalMiB: 143771, reservedMiB: 616, reserveMiB: 512, activeModels: [] };
    expect(availableMiB({ ...base, usedMiB: 0 })).toBe(143771 - 616 - 512);
    expect(availableMiB({ ...base, usedMiB: 40000 })).toBe(143771 - 616 - 512 - 40000);
  });

  it('measured: a starting model counts its whole budget, a loaded one its measured use when larger', () => {
    const common = { totalMiB: 100000, reservedMiB: 0, reserveMiB: 0 };
    // starting: nothing allocated yet, budget 20000 still counts in full
    expect(availableMiB({ ...common, usedMiB: 0, activeModels: [{ budgetMiB: 20000, measuredMiB: 0 }] })).toBe(80000);
    // half loaded: 10000 measured (in used) + 10000 still to come
    expect(availableMiB({ ...common, usedMiB: 10000, activeModels: [{ budgetMiB: 20000, measuredMiB: 10000 }] })).toBe(80000);
    // overshoot: 21000 measured counts as 21000, not 20000
    expect(availableMiB({ ...common, usedMiB: 21000, activeModels: [{ budgetMiB: 20000, measuredMiB: 21000 }] })).toBe(79000);
  });

  it('memory of an evicted model not yet released is still unavailable (P11)', () => {
    // the model is no longer active, but the driver still shows its 30000 MiB used
    expect(availableMiB({ totalMiB: 100000, reservedMiB: 0, reserveMiB: 0, usedMiB: 30000, activeModels: [] })).toBe(70000);
    // once released
    expect(availableMiB({ totalMiB: 100000, reservedMiB: 0, reserveMiB: 0, usedMiB: 0, activeModels: [] })).toBe(100000);
  });

  it('may go negative when over-committed', () => {
    expect(
      availableMiB({ totalMiB: 1000, reservedMiB: 0, reserveMiB: 0, usedMiB: 900, activeModels: [{ budgetMiB: 500, measuredMiB: 0 }] }),
    ).toBe(-400);
  });
});

describe('availableBySnapshot', () => {
  it('per GPU, with measured shares found by pid', () => {
    const snap: GpuSnapshot = {
      at: 1,
      gpus: [gpu(0, { usedMiB: 25000, freeMiB: 143771 - 616 - 25000 }), gpu(1, { usedMiB: 0 })],
      processes: [
        { pid: 10, gpuIndex: 0, usedMiB: 15000 }, // model a, still loading towards 20480
        { pid: 77, gpuIndex: 0, usedMiB: 10000 }, // someone else
      ],
      measured: true,
    };
    const models = new Map([
      ['a', model([10], [0], 20480)],
      ['b', model([20], [1], 8192)], // starting, nothing measured yet
      ['gone', model([30], [1], 50000, false)],
    ]);
    const av = availableBySnapshot(snap, models, 0.5);
    expect(av.get(0)).toBe(143771 - 616 - 25000 - 512 - (20480 - 15000));
    expect(av.get(1)).toBe(143771 - 616 - 0 - 512 - 8192);
  });

  it('static GPUs use budgets only', () => {
    const snap: GpuSnapshot = { at: 1, gpus: staticGpuReadings([{ name: 'S', totalGiB: 24 }]), processes: [], measured: false };
    const av = availableBySnapshot(snap, new Map([['a', model([], [0], 10240)]]), 0.5);
    expect(av.get(0)).toBe(24576 - 512 - 10240);
  });
});
