import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { attributeGpuMemory, type ManagedModel } from '../../gateway/gpu/attribution.js';
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
