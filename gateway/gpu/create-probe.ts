// Chooses the GPU probe from `gpu` config (docs/configuration.md: "auto = nvidia-smi if found, else static
// if given, else none").
//
//   nvidia-smi  always the nvidia-smi probe, even when the executable is absent: it then reports
//               itself unavailable with the reason ("nvidia-smi not found at …") in state().error.
//   static      the configured list, nothing measured.
//   auto        1. nvidia-smi when the executable exists (even if it then fails: a broken driver is
//                  reported, not hidden behind a simulated GPU);
//               2. else static when the user *gave* a static list;
//               3. else systeminformation when graphics() reports an NVIDIA/AMD GPU with memory;
//               4. else null: no GPU (the status document's probe kind is "none").
//
// "Given" matters: the contract's example shows one "Simulated GPU" of 24 GiB, but falling back
// to a simulated GPU on every machine without nvidia-smi would show a GPU that does not exist
// and cap placement at 24 GiB there. The schema (gateway/config/schema.ts) therefore defaults
// `gpu.static` to [], so a non-empty list is one the user wrote. Use `probe: static` to get the
// simulated GPU on purpose (tests and demos). `staticExplicit` lets a caller override this.

import type { GatewayConfig } from '../config/types.js';
import type { GpuProbe, GpuReading } from './probe.js';
import { findNvidiaSmi, NvidiaSmiProbe } from './nvidia-smi-probe.js';
import { readingsFromControllers, SystemInformationProbe, type GraphicsFn } from './si-probe.js';
import { StaticProbe } from './static-probe.js';

export type GpuConfig = GatewayConfig['gpu'];

export interface CreateProbeOptions {
  /** Whether `gpu.static` counts as given under `auto`. Default: when non-empty (the schema's default is []). */
  staticExplicit?: boolean;
  now?: () => number;
  /** Replaces the PATH lookup (tests). */
  findNvidiaSmi?: (path: string) => Promise<boolean>;
  /** Replaces systeminformation's graphics() (tests). */
  graphics?: GraphicsFn;
}

export async function createGpuProbe(gpu: GpuConfig, opts: CreateProbeOptions = {}): Promise<GpuProbe | null> {
  const now = opts.now;
  const nvidia = () => new NvidiaSmiProbe({ path: gpu.nvidiaSmiPath, pollSeconds: gpu.pollSeconds, now });
  switch (gpu.probe) {
    case 'nvidia-smi':
      return nvidia();
    case 'static':
      return new StaticProbe(gpu.static, { now });
    case 'auto': {
      const find = opts.findNvidiaSmi ?? ((p: string) => findNvidiaSmi(p));
      if (await find(gpu.nvidiaSmiPath)) return nvidia();
      const staticGiven = opts.staticExplicit ?? true;
      if (staticGiven && gpu.static.length > 0) return new StaticProbe(gpu.static, { now });
      const found = await probeSystemInformation(opts.graphics);
      if (found.length > 0) {
        return new SystemInformationProbe({ pollSeconds: gpu.pollSeconds, now, graphics: opts.graphics }, found);
      }
      return null;
    }
    default:
      return null;
  }
}

async function probeSystemInformation(graphics?: GraphicsFn): Promise<GpuReading[]> {
  try {
    const fn: GraphicsFn = graphics ?? (await import('systeminformation')).graphics;
    const data = await fn();
    return readingsFromControllers(data?.controllers ?? []);
  } catch {
    return [];
  }
}
