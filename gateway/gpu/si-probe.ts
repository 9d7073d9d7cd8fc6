// Last-resort GPU source: systeminformation's graphics(), used only where nvidia-smi is absent
// and no static list was given. On a real H200 host it returned only {vendor, model, vram}
// (test/fixtures/nvidia-smi/README.md), so its figures are never treated as measurements:
//
// The snapshot is always `measured: false`. Even when a controller does carry memoryUsed,
// graphics() has no per-process figures, so the gateway could not tell its own models' memory
// from other processes' and would count it twice (once as "other", once as budgets). Placement
// and attribution therefore use budgets, as for a static GPU; the reading still carries
// memoryUsed/memoryFree where given, for display.

import * as si from 'systeminformation';
import { PollingProbe } from './polling-probe.js';
import type { GpuReading, GpuSnapshot } from './probe.js';

type Controller = {
  vendor?: string;
  model?: string;
  name?: string;
  vram?: number | null;
  memoryTotal?: number;
  memoryUsed?: number;
  memoryFree?: number;
  utilizationGpu?: number;
  temperatureGpu?: number;
  powerDraw?: number;
};

export type GraphicsFn = () => Promise<{ controllers: Controller[] }>;

const GPU_VENDOR = /nvidia|amd|advanced micro devices|\bati\b/i;

function finite(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** Compute GPUs among the controllers: NVIDIA or AMD, with a memory size. Pure. */
export function readingsFromControllers(controllers: ReadonlyArray<Controller>): GpuReading[] {
  const out: GpuReading[] = [];
  for (const c of controllers) {
    if (!GPU_VENDOR.test(`${c.vendor ?? ''} ${c.model ?? ''}`)) continue;
    const totalMiB = finite(c.memoryTotal) && c.memoryTotal > 0 ? c.memoryTotal : finite(c.vram) && c.vram > 0 ? c.vram : 0;
    if (totalMiB <= 0) continue;
    const usedMiB = finite(c.memoryUsed) ? c.memoryUsed : 0;
    const freeMiB = finite(c.memoryFree) ? c.memoryFree : Math.max(0, totalMiB - usedMiB);
    out.push({
      index: out.length,
      uuid: null,
      name: c.model || c.name || c.vendor || `GPU ${out.length}`,
      totalMiB: Math.round(totalMiB),
      usedMiB: Math.round(usedMiB),
      freeMiB: Math.round(freeMiB),
      reservedMiB: 0,
      utilizationPercent: finite(c.utilizationGpu) ? c.utilizationGpu : null,
      temperatureC: finite(c.temperatureGpu) ? c.temperatureGpu : null,
      powerW: finite(c.powerDraw) ? c.powerDraw : null,
    });
  }
  return out;
}

export interface SiProbeOptions {
  /** Seconds between polls; graphics() is slow (0.3–3 s), so at least 5 s is used. */
  pollSeconds: number;
  now?: () => number;
  graphics?: GraphicsFn;
}

export class SystemInformationProbe extends PollingProbe {
  readonly kind = 'systeminformation' as const;
  private readonly graphics: GraphicsFn;

  /** `initial`: the readings found when the probe was chosen (avoids a second slow call). */
  constructor(opts: SiProbeOptions, initial?: GpuReading[]) {
    super({ intervalMs: Math.max(5000, Math.round(opts.pollSeconds * 1000)), schedule: 'after-end', now: opts.now });
    this.graphics = opts.graphics ?? (si.graphics as unknown as GraphicsFn);
    this.snapshot = initial ? { at: this.now(), gpus: initial, processes: [], measured: false } : null;
  }

  protected override async read(at: number): Promise<GpuSnapshot> {
    const data = await this.graphics();
    return { at, gpus: readingsFromControllers(data?.controllers ?? []), processes: [], measured: false };
  }

  protected override toError(err: unknown): Error {
    return new Error(`systeminformation graphics() failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}
