import { describe, expect, it, vi } from 'vitest';
import { createGpuProbe, type GpuConfig } from '../../gateway/gpu/create-probe.js';
import { readHostInfo } from '../../gateway/gpu/host-info.js';
import { NvidiaSmiProbe } from '../../gateway/gpu/nvidia-smi-probe.js';
import { descendantsFromTable, parseProcStatPpid } from '../../gateway/gpu/process-tree.js';
import { readingsFromControllers, SystemInformationProbe } from '../../gateway/gpu/si-probe.js';
import { StaticProbe, staticGpuReadings } from '../../gateway/gpu/static-probe.js';

const H200_SI = { controllers: [{ vendor: 'NVIDIA Corporation', model: 'NVIDIA H200', vram: 143156 }] };

function cfg(over: Partial<GpuConfig> = {}): GpuConfig {
  return { probe: 'auto', nvidiaSmiPath: 'nvidia-smi', pollSeconds: 1, reserveGiB: 0.5, static: [], ...over };
}

describe('static probe', () => {
  it('GiB to MiB, nothing used, not measured', async () => {
    expect(
      staticGpuReadings([
        { name: 'Simulated GPU', totalGiB: 24 },
        { name: 'Odd', totalGiB: 7.9999 },
      ]),
    ).toEqual([
      {
        index: 0,
        uuid: null,
        name: 'Simulated GPU',
        totalMiB: 24576,
        usedMiB: 0,
        freeMiB: 24576,
        reservedMiB: 0,
        utilizationPercent: null,
        temperatureC: null,
        powerW: null,
      },
      {
        index: 1,
        uuid: null,
        name: 'Odd',
        totalMiB: 8192,
        usedMiB: 0,
        freeMiB: 8192,
        reservedMiB: 0,
        utilizationPercent: null,
        temperatureC: null,
        powerW: null,
      },
    ]);
    let t = 1000;
    const p = new StaticProbe([{ name: 'S', totalGiB: 1 }], { now: () => t });
    expect(p.kind).toBe('static');
    expect(p.state()).toMatchObject({ error: null, snapshot: { at: 1000, measured: false, processes: [] } });
    const seen: number[] = [];
    p.onReading((s) => seen.push(s.at));
    t = 2000;
    expect((await p.refresh()).at).toBe(2000);
    expect(seen).toEqual([2000]);
  });
});

describe('systeminformation readings', () => {
  it('the real H200 answer (vram only) becomes total, nothing used', () => {
    expect(readingsFromControllers(H200_SI.controllers)).toEqual([
      {
        index: 0,
        uuid: null,
        name: 'NVIDIA H200',
        totalMiB: 143156,
        usedMiB: 0,
        freeMiB: 143156,
        reservedMiB: 0,
        utilizationPercent: null,
        temperatureC: null,
        powerW: null,
      },
    ]);
  });

  it('uses memoryTotal/Used/Free when given; skips other vendors and memoryless ones', () => {
    const r = readingsFromControllers([
      { vendor: 'Intel Corporation', model: 'UHD 630', vram: 1024 },
      { vendor: 'Advanced Micro Devices, Inc. [AMD/ATI]', model: 'Radeon', vram: null },
      {
        vendor: 'NVIDIA',
        model: 'RTX 4090',
        vram: 24564,
        memoryTotal: 24564,
        memoryUsed: 1000,
        memoryFree: 23000,
        utilizationGpu: 7,
        temperatureGpu: 51,
        powerDraw: 30,
      },
    ]);
    expect(r).toEqual([
      {
        index: 0,
        uuid: null,
        name: 'RTX 4090',
        totalMiB: 24564,
        usedMiB: 1000,
        freeMiB: 23000,
        reservedMiB: 0,
        utilizationPercent: 7,
        temperatureC: 51,
        powerW: 30,
      },
    ]);
  });

  it('probe: never measured, shares an in-flight call, reports failures', async () => {
    let calls = 0;
    let fail = false;
    const p = new SystemInformationProbe({
      pollSeconds: 1,
      graphics: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 20));
        if (fail) throw new Error('boom');
        return H200_SI;
      },
    });
    const [a, b] = await Promise.all([p.refresh(), p.refresh()]);
    expect(calls).toBe(1);
    expect(a).toBe(b);
    expect(a.measured).toBe(false);
    fail = true;
    await expect(p.refresh()).rejects.toThrow(/graphics\(\) failed: boom/);
    expect(p.state().snapshot).toBe(a);
    expect(p.state().error).toMatch(/boom/);
  });
});

describe('polling schedule', () => {
  it('stop() then start() while a poll runs does not leave two poll chains', async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const p = new SystemInformationProbe({
        pollSeconds: 5,
        graphics: async () => {
          calls++;
          if (calls === 1) await gate;
          return H200_SI;
        },
      });
      p.start();
      p.stop();
      p.start(); // shares the first poll, still in flight
      expect(calls).toBe(1);
      release();
      await vi.advanceTimersByTimeAsync(0);
      await vi.advanceTimersByTimeAsync(5000);
      expect(calls).toBe(2);
      await vi.advanceTimersByTimeAsync(5000);
      expect(calls).toBe(3);
      p.stop();
      await vi.advanceTimersByTimeAsync(20_000);
      expect(calls).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('createGpuProbe', () => {
  const none = async () => ({ controllers: [] });
  const found = async () => true;
  const absent = async () => false;

  it('auto: nvidia-smi when found', async () => {
    const p = await createGpuProbe(cfg({ static: [{ name: 'S', totalGiB: 8 }] }), { findNvidiaSmi: found, graphics: none });
    expect(p?.kind).toBe('nvidia-smi');
  });

  it('auto: static when given and nvidia-smi absent', async () => {
    const p = await createGpuProbe(cfg({ static: [{ name: 'S', totalGiB: 8 }] }), { findNvidiaSmi: absent, graphics: async () => H200_SI });
    expect(p?.kind).toBe('static');
    expect(p?.state().snapshot?.gpus[0]?.totalMiB).toBe(8192);
  });

  it('auto: static not counted when the caller says it was not written', async () => {
    const p = await createGpuProbe(cfg({ static: [{ name: 'Simulated GPU', totalGiB: 24 }] }), {
      findNvidiaSmi: absent,
      graphics: none,
      staticExplicit: false,
    });
    expect(p).toBeNull();
  });

  it('auto: systeminformation when it sees a GPU, else null', async () => {
    const p = await createGpuProbe(cfg(), { findNvidiaSmi: absent, graphics: async () => H200_SI });
    expect(p?.kind).toBe('systeminformation');
    expect(p?.state().snapshot?.gpus.map((g) => g.totalMiB)).toEqual([143156]);
    expect(await createGpuProbe(cfg(), { findNvidiaSmi: absent, graphics: none })).toBeNull();
    expect(
      await createGpuProbe(cfg(), {
        findNvidiaSmi: absent,
        graphics: async () => {
          throw new Error('x');
        },
      }),
    ).toBeNull();
  });

  it('forced nvidia-smi even when absent; forced static', async () => {
    const p = await createGpuProbe(cfg({ probe: 'nvidia-smi', nvidiaSmiPath: '/nonexistent/nvidia-smi' }), { findNvidiaSmi: absent });
    expect(p).toBeInstanceOf(NvidiaSmiProbe);
    expect((await createGpuProbe(cfg({ probe: 'static', static: [{ name: 'S', totalGiB: 1 }] })))?.kind).toBe('static');
  });
});

describe('process tree (pure parts)', () => {
  it('ppid from /proc stat, with spaces and parens in comm', () => {
    expect(parseProcStatPpid('1234 (node) S 1200 1234 1 0 -1')).toBe(1200);
    expect(parseProcStatPpid('77 (weird) name (x)) R 5 77 77')).toBe(5);
    expect(parseProcStatPpid('garbage')).toBeNull();
  });

  it('descendants of several roots, with or without the roots', () => {
    const table = new Map([
      [1, 0],
      [10, 1],
      [11, 10],
      [12, 11],
      [20, 1],
      [30, 99],
    ]);
    expect(descendantsFromTable([10], table)).toEqual([10, 11, 12]);
    expect(descendantsFromTable([10, 20], table, false)).toEqual([11, 12]);
    expect(descendantsFromTable([30, 555], table)).toEqual([30, 555]);
  });
});

describe('readHostInfo', () => {
  it('uses systeminformation figures', async () => {
    const h = await readHostInfo({
      mem: async () => ({ total: 128 * 1024 ** 3, available: 100 * 1024 ** 3, free: 2 * 1024 ** 3 }),
      cpu: async () => ({ manufacturer: 'AMD', brand: 'EPYC 9654', cores: 16 }),
      osInfo: async () => ({ hostname: 'gpu-box', platform: 'linux' }),
    });
    expect(h).toEqual({
      hostname: 'gpu-box',
      platform: 'linux',
      cpus: 16,
      cpuModel: 'AMD EPYC 9654',
      memTotalMiB: 131072,
      memFreeMiB: 102400,
    });
  });

  it('never throws: falls back to node:os', async () => {
    const boom = async () => {
      throw new Error('no');
    };
    const h = await readHostInfo({ mem: boom, cpu: boom, osInfo: boom });
    expect(h.hostname.length).toBeGreaterThan(0);
    expect(h.cpus).toBeGreaterThan(0);
    expect(h.memTotalMiB).toBeGreaterThan(0);
  });

  it('the real systeminformation on this machine', async () => {
    const h = await readHostInfo();
    expect(h.memTotalMiB).toBeGreaterThan(0);
    expect(h.memFreeMiB).toBeLessThanOrEqual(h.memTotalMiB);
    expect(h.platform).toBe(process.platform);
  });
});
