// Issue 4, gateway level: the status document's GPU section shows measured figures per GPU and
// per model (nvidia-smi probe running the fake nvidia-smi), --gpu-memory-utilization is the
// budget over the GPU's total, and multi-GPU placement (auto picks the GPU with the most
// available memory; a model given several GPUs holds its budget on each).

import { afterEach, describe, expect, it } from 'vitest';
import {
  FAKE_RESERVED_MIB,
  cleanupGpuTests,
  expectedUtilization,
  flagIn,
  mockCommand,
  mockStats,
  startGpuGateway,
  tensorParallelCommand,
  waitFor,
} from './gpu-helpers.js';

afterEach(cleanupGpuTests);

const GPU_24G = 24576;

describe.runIf(process.platform === 'linux')('measured GPU memory in the status document', () => {
  it('shows per-GPU and per-model measured figures, other processes, and the utilization passed to vLLM', async () => {
    const t = await startGpuGateway({
      gpus: `Fake GPU:${GPU_24G}`,
      // 1000 MiB held by something nvidia-smi cannot attribute, plus a real process below.
      fakeEnv: { FAKE_NVIDIA_SMI_EXTRA: '0:1000' },
      models: {
        alpha: { vramGiB: 4, command: mockCommand(4096) },
        beta: { vramGiB: 5, command: mockCommand(3000) }, // uses less than its budget
      },
    });
    await t.other(2500, 0);
    expect((await t.admin('/gateway/models/alpha/load')).status).toBe(200);
    expect((await t.admin('/gateway/models/beta/load')).status).toBe(200);

    // Once a reading after both starts is attributed, every figure is the measured one.
    const used = 4096 + 3000 + 2500 + 1000;
    const doc = await waitFor(() => {
      const s = t.status();
      const g = s.gpus[0];
      return g && g.usedMiB === used && g.models.length === 2 && s.models.every((m) => m.vramUsedMiB !== null) ? s : null;
    }, 'both models attributed');
    console.log(
      'status document, GPU section:\n' +
        JSON.stringify(
          {
            models: doc.models.map(({ id, state, vramBudgetMiB, vramUsedMiB, gpus }) => ({ id, state, vramBudgetMiB, vramUsedMiB, gpus })),
            gpus: doc.gpus,
            gpuProbe: doc.gpuProbe,
          },
          null,
          2,
        ),
    );

    expect(doc.gpus).toHaveLength(1);
    expect(doc.gpus[0]).toMatchObject({
      index: 0,
      name: 'Fake GPU',
      totalMiB: GPU_24G,
      usedMiB: used,
      freeMiB: GPU_24G - FAKE_RESERVED_MIB - used,
      reservedMiB: FAKE_RESERVED_MIB,
      models: [
        { id: 'alpha', usedMiB: 4096 },
        { id: 'beta', usedMiB: 3000 },
      ],
      otherMiB: 2500 + 1000,
      source: 'nvidia-smi',
    });
    const alpha = doc.models.find((m) => m.id === 'alpha')!;
    const beta = doc.models.find((m) => m.id === 'beta')!;
    expect(alpha).toMatchObject({ state: 'ready', vramBudgetMiB: 4096, vramUsedMiB: 4096, gpus: [0] });
    expect(beta).toMatchObject({ state: 'ready', vramBudgetMiB: 5120, vramUsedMiB: 3000, gpus: [0] });
    expect(doc.gpuProbe).toMatchObject({ kind: 'nvidia-smi', available: true, error: null });
    expect(doc.gpuProbe!.ageMs).toBeGreaterThanOrEqual(0);

    // --gpu-memory-utilization = vramGiB ÷ the GPU's total, floored to 2 decimals (4/24 → 0.16, 5/24 → 0.20).
    const a = await mockStats(t, 'alpha');
    const b = await mockStats(t, 'beta');
    expect(flagIn(a.argv, '--gpu-memory-utilization')).toBe(String(expectedUtilization(4, GPU_24G)));
    expect(a.gpuMemoryUtilization).toBe(0.16);
    expect(b.gpuMemoryUtilization).toBe(0.2);
    expect(flagIn(b.argv, '--gpu-memory-utilization')).toBe('0.2');
    // The mock was given its GPU through ${CUDA_VISIBLE_DEVICES}.
    expect(a.gpuIndex).toBe(0);

    // The same figures on /metrics-independent routes: GET /gateway/status over HTTP.
    const http = (await t.get('/gateway/status')).json;
    expect(http.gpus[0].models).toEqual(doc.gpus[0].models);

    // Unloading a model removes it from the GPU once measured.
    expect((await t.admin('/gateway/models/beta/unload')).status).toBe(200);
    await waitFor(() => {
      const g = t.status().gpus[0];
      return g.models.length === 1 && g.usedMiB === 4096 + 2500 + 1000 && g.otherMiB === 3500;
    }, 'beta gone from the GPU');
    expect(t.model('beta').vramUsedMiB).toBeNull();
    await t.close();
  });

  it('--gpu-memory-utilization on an H200 total (20 GiB of 143771 MiB → 0.14)', async () => {
    const t = await startGpuGateway({
      gpus: 'NVIDIA H200:143771',
      models: { big: { vramGiB: 20, command: mockCommand(1024) } },
    });
    expect((await t.admin('/gateway/models/big/load')).status).toBe(200);
    const s = await mockStats(t, 'big');
    // 20 × 1024 / 143771 = 0.1424…, rounded down to 2 decimals (docs/configuration.md).
    expect(flagIn(s.argv, '--gpu-memory-utilization')).toBe('0.14');
    expect(s.gpuMemoryUtilization).toBe(0.14); // and the server read it as such
    await t.close();
  });
});

describe.runIf(process.platform === 'linux')('multi-GPU placement on measured memory', () => {
  it('gpus: auto picks the GPU with the most available memory, counting other processes and placed budgets', async () => {
    const t = await startGpuGateway({
      gpus: `Fake GPU:${GPU_24G},Fake GPU:${GPU_24G}`,
      models: {
        x: { vramGiB: 12, command: mockCommand(12288) },
        y: { vramGiB: 4, command: mockCommand(4096) },
      },
    });
    // GPU 0 is partly used by a process the gateway does not manage.
    await t.other(10000, 0);
    await waitFor(() => t.status().gpus[0]?.otherMiB === 10000, 'the other process measured on GPU 0');

    // x: GPU 0 offers 24576-616-512-10000 = 13448, GPU 1 offers 23448 → GPU 1.
    expect((await t.admin('/gateway/models/x/load')).status).toBe(200);
    expect(t.model('x').gpus).toEqual([1]);
    expect((await mockStats(t, 'x')).gpuIndex).toBe(1); // CUDA_VISIBLE_DEVICES=1
    // y: GPU 0 still 13448, GPU 1 now 23448-12288 = 11160 → GPU 0.
    expect((await t.admin('/gateway/models/y/load')).status).toBe(200);
    expect(t.model('y').gpus).toEqual([0]);

    const doc = await waitFor(() => {
      const s = t.status();
      return s.gpus[0].models.length === 1 && s.gpus[1].models.length === 1 ? s : null;
    }, 'both models measured');
    expect(doc.gpus[0]).toMatchObject({ models: [{ id: 'y', usedMiB: 4096 }], otherMiB: 10000, usedMiB: 14096 });
    expect(doc.gpus[1]).toMatchObject({ models: [{ id: 'x', usedMiB: 12288 }], otherMiB: 0, usedMiB: 12288 });
    expect(t.runtime.starts.map(([id]) => id)).toEqual(['x', 'y']);
    await t.close();
  });

  it('a model given gpus [0, 1] reserves its budget on each and is measured on both', async () => {
    const t = await startGpuGateway({
      gpus: `Fake GPU:${GPU_24G},Fake GPU:${GPU_24G}`,
      models: {
        tp: { vramGiB: 10, gpus: [0, 1], command: tensorParallelCommand(10240) },
        solo: { vramGiB: 14, gpus: [1], command: mockCommand(14336) },
      },
    });
    expect((await t.admin('/gateway/models/tp/load')).status).toBe(200);
    const tpStats = await mockStats(t, 'tp');
    expect(flagIn(tpStats.argv, '--mock-cuda-visible-devices')).toBe('0,1');
    // The utilization is computed against the GPUs' total: 10 GiB / 24 GiB → 0.41.
    expect(tpStats.gpuMemoryUtilization).toBe(expectedUtilization(10, GPU_24G));

    const doc = await waitFor(() => {
      const s = t.status();
      return s.gpus.every((g) => g.models.length === 1) ? s : null;
    }, 'tp measured on both GPUs');
    expect(doc.models.find((m) => m.id === 'tp')).toMatchObject({ gpus: [0, 1], vramBudgetMiB: 10240, vramUsedMiB: 20480 });
    for (const g of doc.gpus) expect(g).toMatchObject({ models: [{ id: 'tp', usedMiB: 10240 }], otherMiB: 0 });

    // solo needs 14336 on GPU 1, where tp's budget leaves 23448-10240 = 13208: tp is evicted.
    expect((await t.admin('/gateway/models/solo/load')).status).toBe(200);
    expect(t.model('tp').state).toBe('stopped');
    expect(t.model('solo').gpus).toEqual([1]);
    await waitFor(() => {
      const s = t.status();
      return s.gpus[0].usedMiB === 0 && s.gpus[1].models.map((m) => m.id).join() === 'solo';
    }, 'tp gone from both GPUs, solo on GPU 1');
    await t.close();
  });
});
