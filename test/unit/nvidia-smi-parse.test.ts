import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  GPU_QUERY_FIELDS_NO_RESERVED,
  NvidiaSmiParseError,
  parseComputeApps,
  parseGpuQuery,
  parseNvidiaSmi,
} from '../../gateway/gpu/nvidia-smi-parse.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/nvidia-smi/${name}`, import.meta.url)), 'utf8');

const H200_UUID = 'GPU-a07f9847-dfde-67a1-f877-ace6963ba617';
const H200_TWO_UUID = 'GPU-9ec721bb-872e-2cef-7047-9e632aa7268c';

describe('parseGpuQuery on the real H200 captures (csv with header and units)', () => {
  it('idle: every figure', () => {
    expect(parseGpuQuery(fixture('h200-query-gpu-idle.csv'))).toEqual([
      {
        index: 0,
        uuid: H200_UUID,
        name: 'NVIDIA H200',
        totalMiB: 143771,
        usedMiB: 0,
        freeMiB: 143156,
        reservedMiB: 616,
        utilizationPercent: 0,
        temperatureC: 42,
        powerW: 80.82,
      },
    ]);
  });

  it('busy: used + free + reserved = total, free is not total - used', () => {
    const [g] = parseGpuQuery(fixture('h200-query-gpu-busy.csv'));
    expect(g).toMatchObject({ totalMiB: 143771, usedMiB: 31247, freeMiB: 111910, reservedMiB: 616, temperatureC: 43, powerW: 125.1 });
    expect(g!.usedMiB + g!.freeMiB + g!.reservedMiB).toBe(g!.totalMiB + 2); // nvidia-smi rounds each figure
    expect(g!.freeMiB).not.toBe(g!.totalMiB - g!.usedMiB);
  });

  it('two processes host: utilization 9 %', () => {
    const [g] = parseGpuQuery(fixture('h200-query-gpu-two.csv'));
    expect(g).toMatchObject({ index: 0, uuid: H200_TWO_UUID, usedMiB: 52435, freeMiB: 90722, utilizationPercent: 9, powerW: 99.49 });
  });
});

describe('parseComputeApps on the real captures', () => {
  it('busy: pid 485 holds 31238 MiB on GPU 0', () => {
    const gpus = parseGpuQuery(fixture('h200-query-gpu-busy.csv'));
    expect(parseComputeApps(fixture('h200-query-apps-busy.csv'), gpus)).toEqual([{ pid: 485, gpuIndex: 0, usedMiB: 31238 }]);
  });

  it('two: keeps nvidia-smi order (later pid first)', () => {
    const { gpus, processes } = parseNvidiaSmi(fixture('h200-query-gpu-two.csv'), fixture('h200-query-apps-two.csv'));
    expect(gpus).toHaveLength(1);
    expect(processes).toEqual([
      { pid: 1880, gpuIndex: 0, usedMiB: 31330 },
      { pid: 1878, gpuIndex: 0, usedMiB: 21090 },
    ]);
    // 52435 used − 52420 in processes = 15 MiB of context overhead nobody lists
    expect(gpus[0]!.usedMiB - processes.reduce((s, p) => s + p.usedMiB, 0)).toBe(15);
  });

  it('an app on a uuid no GPU has is dropped', () => {
    const gpus = parseGpuQuery(fixture('h200-query-gpu-busy.csv'));
    expect(parseComputeApps('12, 100, GPU-unknown\n', gpus)).toEqual([]);
  });
});

describe('parseGpuQuery, machine format (csv,noheader,nounits)', () => {
  const line = (s: string) => `${s}\n`;

  it('reads the probe query order', () => {
    const out =
      line('0, GPU-a, NVIDIA H200, 143771, 31247, 111910, 616, 3, 43, 125.10') +
      line('1, GPU-b, NVIDIA H200, 143771, 0, 143156, 616, 0, 40, 80.00');
    const gpus = parseGpuQuery(out);
    expect(gpus.map((g) => [g.index, g.uuid, g.usedMiB, g.freeMiB, g.reservedMiB, g.utilizationPercent])).toEqual([
      [0, 'GPU-a', 31247, 111910, 616, 3],
      [1, 'GPU-b', 0, 143156, 616, 0],
    ]);
  });

  it('tolerates [N/A], N/A and [Not Supported] in any optional column', () => {
    const [g] = parseGpuQuery('0, GPU-a, Tesla T4, 15360, 100, 14960, [N/A], [Not Supported], N/A, [N/A]\n');
    expect(g).toMatchObject({
      totalMiB: 15360,
      usedMiB: 100,
      freeMiB: 14960,
      reservedMiB: 0,
      utilizationPercent: null,
      temperatureC: null,
      powerW: null,
    });
  });

  it('tolerates missing trailing columns, blank lines, CRLF and a BOM', () => {
    const gpus = parseGpuQuery('\uFEFF\r\n0, GPU-a, NVIDIA A100, 40960, 10, 40330\r\n\r\n1, GPU-b, NVIDIA A100, 40960\r\n');
    expect(gpus).toHaveLength(2);
    expect(gpus[0]).toMatchObject({ totalMiB: 40960, usedMiB: 10, freeMiB: 40330, reservedMiB: 0, utilizationPercent: null, powerW: null });
    expect(gpus[1]).toMatchObject({ totalMiB: 40960, usedMiB: 0, freeMiB: 40960 });
  });

  it('a name with commas: the fixed columns are taken from both ends', () => {
    const [g] = parseGpuQuery('0, GPU-a, Acme Accel, Rev 2, Special, 24576, 1000, 22960, 616, 5, 50, 70.5\n');
    expect(g).toMatchObject({
      name: 'Acme Accel, Rev 2, Special',
      totalMiB: 24576,
      usedMiB: 1000,
      freeMiB: 22960,
      reservedMiB: 616,
      powerW: 70.5,
    });
  });

  it('old drivers: the query without memory.reserved', () => {
    const [g] = parseGpuQuery('0, GPU-a, Tesla V100, 16160, 0, 16160, 0, 35, 25.3\n', GPU_QUERY_FIELDS_NO_RESERVED);
    expect(g).toMatchObject({ totalMiB: 16160, freeMiB: 16160, reservedMiB: 0, temperatureC: 35, powerW: 25.3 });
  });

  it('unified memory parts: N/A memory figures read 0, free derived', () => {
    const [g] = parseGpuQuery('0, GPU-a, NVIDIA GB10, [N/A], [N/A], [N/A], [N/A], 0, 40, 5.0\n');
    expect(g).toMatchObject({ totalMiB: 0, usedMiB: 0, freeMiB: 0 });
  });

  it('sorts by index and rejects a duplicate index', () => {
    expect(parseGpuQuery('1, b, X, 10, 0, 10\n0, a, X, 20, 0, 20\n').map((g) => g.index)).toEqual([0, 1]);
    expect(() => parseGpuQuery('0, a, X, 10, 0, 10\n0, b, X, 10, 0, 10\n')).toThrow(/listed twice/);
  });

  it('no GPUs: empty output, or "No devices were found"', () => {
    expect(parseGpuQuery('')).toEqual([]);
    expect(parseGpuQuery('No devices were found\n')).toEqual([]);
  });
});

describe('parseComputeApps, machine format', () => {
  const gpus = [
    { index: 0, uuid: 'GPU-a' },
    { index: 1, uuid: 'GPU-b' },
  ];

  it('maps uuids to indexes (case-insensitive) and reads N/A memory as 0', () => {
    expect(parseComputeApps('10, 2048, GPU-a\n11, [N/A], gpu-B\n12, 512, GPU-b\n', gpus)).toEqual([
      { pid: 10, gpuIndex: 0, usedMiB: 2048 },
      { pid: 11, gpuIndex: 1, usedMiB: 0 },
      { pid: 12, gpuIndex: 1, usedMiB: 512 },
    ]);
  });

  it('no processes: empty output, header only, or the "No running processes found" line', () => {
    expect(parseComputeApps('', gpus)).toEqual([]);
    expect(parseComputeApps('pid, used_gpu_memory [MiB], gpu_uuid\n', gpus)).toEqual([]);
    expect(parseComputeApps('No running processes found\n', gpus)).toEqual([]);
  });

  it('a process name with commas in the header format', () => {
    const out = 'pid, process_name, used_gpu_memory [MiB], gpu_uuid\n7, python3 -c a,b, 300 MiB, GPU-b\n';
    expect(parseComputeApps(out, gpus)).toEqual([{ pid: 7, gpuIndex: 1, usedMiB: 300 }]);
  });
});

describe('garbage input gives a clear error', () => {
  it('the NVML failure text printed on stdout', () => {
    const text =
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n";
    expect(() => parseGpuQuery(text)).toThrow(NvidiaSmiParseError);
    expect(() => parseGpuQuery(text)).toThrow(/--query-gpu: line 1: index is not a number/);
  });

  it('a non-numeric memory figure names the column and the line', () => {
    expect(() => parseGpuQuery('0, GPU-a, X, lots, 0, 10\n')).toThrow(/line 1: memory\.total is not a number \("lots"\)/);
  });

  it('too few columns', () => {
    expect(() => parseGpuQuery('0, GPU-a\n')).toThrow(/too few columns/);
  });

  it('compute-apps garbage', () => {
    expect(() => parseComputeApps('hello world\n', [])).toThrow(/--query-compute-apps: line 1: pid is not a number/);
    expect(() => parseComputeApps('1, 2, 3, 4, 5\n', [])).toThrow(/expected 3 columns, got 5/);
  });

  it('a header without the needed columns', () => {
    // systeminformation's query has no index column: not our format
    expect(() => parseGpuQuery('index, name\n0, X\n')).toThrow(/index and memory\.total are required/);
  });
});

describe('the plain and systeminformation captures are not query output', () => {
  it('systeminformation query (different columns) is rejected, not misread', () => {
    expect(() => parseGpuQuery(fixture('h200-query-si-idle-noheader-nounits.csv'))).toThrow(NvidiaSmiParseError);
  });
  it('the plain table is rejected', () => {
    expect(() => parseGpuQuery(fixture('h200-nvsmi-busy.txt'))).toThrow(NvidiaSmiParseError);
  });
});
