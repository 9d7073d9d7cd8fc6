// Host-qualified GPU ids (docs/hosts.md "Placement"). Placement, the memory ledger and turn-taking
// work on one list of GPUs with numeric ids; a GPU of host number k (0 = `local`, then the
// configured hosts in file order) with index i on that host has the id k × HOST_STRIDE + i. The
// id is stable while the host is away, so what a model holds there, and the GPU labels of its
// containers, mean the same when it returns. Pure.

import { LOCAL_HOST } from '../config/schema.js';

/** More GPUs than any one machine has. */
export const HOST_STRIDE = 1000;

export interface HostGpu {
  /** The host's name (`local` for this machine). */
  host: string;
  /** The GPU's index on that host (what nvidia-smi there and CUDA_VISIBLE_DEVICES call it). */
  index: number;
}

/** Host names in id order: `local`, then the configured hosts. */
export class HostGpuIds {
  readonly names: readonly string[];

  constructor(remoteHosts: readonly string[]) {
    this.names = [LOCAL_HOST, ...remoteHosts];
  }

  ordinal(host: string): number {
    const k = this.names.indexOf(host);
    if (k < 0) throw new Error(`unknown host ${host}`);
    return k;
  }

  id(host: string, index: number): number {
    return this.ordinal(host) * HOST_STRIDE + index;
  }

  of(id: number): HostGpu {
    const k = Math.floor(id / HOST_STRIDE);
    return { host: this.names[k] ?? `host#${k}`, index: id % HOST_STRIDE };
  }

  hostOf(id: number): string {
    return this.of(id).host;
  }

  /** The hosts a model may run on, in order of preference: its `hosts`, else every host (`local` first). */
  hostsFor(model: { hosts?: readonly string[] }): string[] {
    return model.hosts && model.hosts.length > 0 ? [...model.hosts] : [...this.names];
  }
}
