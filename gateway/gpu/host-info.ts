// Host facts for the status document (`host`): systeminformation for RAM, CPU and OS, with
// node:os as the fallback. Static facts (hostname, platform, CPU) are read once and cached;
// memory is read on each call (a /proc/meminfo read on Linux). Never throws.

import os from 'node:os';
import * as si from 'systeminformation';

export interface HostInfo {
  hostname: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  memTotalMiB: number;
  /** Memory available to new processes (MemAvailable on Linux), not just the unused pages. */
  memFreeMiB: number;
}

export interface HostInfoSources {
  mem: () => Promise<{ total: number; available?: number; free: number }>;
  cpu: () => Promise<{ manufacturer?: string; brand?: string; cores?: number }>;
  osInfo: () => Promise<{ hostname?: string; platform?: string }>;
}

const MiB = 1024 * 1024;
const SOURCE_TIMEOUT_MS = 3000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    t.unref?.();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

type StaticFacts = Pick<HostInfo, 'hostname' | 'platform' | 'cpus' | 'cpuModel'>;

function osStaticFacts(): StaticFacts {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    platform: os.platform(),
    cpus: cpus.length || os.availableParallelism?.() || 1,
    cpuModel: cpus[0]?.model?.trim() || 'unknown',
  };
}

async function readStaticFacts(src: HostInfoSources): Promise<StaticFacts> {
  const fallback = osStaticFacts();
  const [cpu, info] = await Promise.all([
    withTimeout(src.cpu(), SOURCE_TIMEOUT_MS).catch(() => null),
    withTimeout(src.osInfo(), SOURCE_TIMEOUT_MS).catch(() => null),
  ]);
  const cpuModel = cpu
    ? [cpu.manufacturer, cpu.brand]
        .filter((s) => s && s.trim())
        .join(' ')
        .trim()
    : '';
  return {
    hostname: info?.hostname || fallback.hostname,
    platform: info?.platform || fallback.platform,
    cpus: cpu?.cores && cpu.cores > 0 ? cpu.cores : fallback.cpus,
    cpuModel: cpuModel || fallback.cpuModel,
  };
}

const defaultSources: HostInfoSources = { mem: si.mem, cpu: si.cpu, osInfo: si.osInfo };

let cachedFacts: Promise<StaticFacts> | null = null;

/** Host facts; `sources` replaces systeminformation (tests), bypassing the cache. */
export async function readHostInfo(sources?: HostInfoSources): Promise<HostInfo> {
  try {
    const src = sources ?? defaultSources;
    const factsP = sources ? readStaticFacts(src) : (cachedFacts ??= readStaticFacts(src));
    const [facts, mem] = await Promise.all([factsP, withTimeout(src.mem(), SOURCE_TIMEOUT_MS).catch(() => null)]);
    const total = mem && mem.total > 0 ? mem.total : os.totalmem();
    const free = mem ? (typeof mem.available === 'number' && mem.available > 0 ? mem.available : mem.free) : os.freemem();
    return { ...facts, memTotalMiB: Math.round(total / MiB), memFreeMiB: Math.round(free / MiB) };
  } catch {
    // Last resort: nothing here should throw, but the status document must never fail for it.
    const f = osStaticFacts();
    return { ...f, memTotalMiB: Math.round(os.totalmem() / MiB), memFreeMiB: Math.round(os.freemem() / MiB) };
  }
}
