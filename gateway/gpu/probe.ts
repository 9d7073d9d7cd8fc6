// What placement and the status document need to know about GPUs (docs/architecture.md rule 1).
// Implementations: nvidia-smi.ts (measured), static-probe.ts (configured totals, nothing measured).

export interface GpuReading {
  index: number;
  /** The host it is on (docs/hosts.md), when the gateway drives several; `index` is then host-qualified. */
  host?: string;
  /** With several hosts: whether this GPU's host measures it (the snapshot's `measured` is all of them). */
  measured?: boolean;
  uuid: string | null;
  name: string;
  totalMiB: number;
  /** Measured use (all processes). 0 on a static GPU. */
  usedMiB: number;
  /** Measured free memory. NOT total - used: nvidia-smi also reports `reserved`. */
  freeMiB: number;
  reservedMiB: number;
  utilizationPercent: number | null;
  temperatureC: number | null;
  powerW: number | null;
}

export interface GpuProcessReading {
  pid: number;
  gpuIndex: number;
  usedMiB: number;
}

export interface GpuSnapshot {
  /** Epoch ms when this reading was taken. */
  at: number;
  gpus: GpuReading[];
  processes: GpuProcessReading[];
  /** False for the static probe: figures are configured, not measured. */
  measured: boolean;
}

export interface ProbeState {
  snapshot: GpuSnapshot | null;
  /** Last failure, phrased for a user, or null when the last poll succeeded. */
  error: string | null;
  /** Wall time of the last poll in ms, for the status document. */
  pollMs: number | null;
}

export interface GpuProbe {
  readonly kind: 'nvidia-smi' | 'static' | 'systeminformation' | 'none';
  /** Begin polling (if the probe polls). */
  start(): void;
  /** End polling; a promise resolves once the reading in flight (a child process) has ended. */
  stop(): void | Promise<void>;
  /** The latest reading and its health, without I/O. */
  state(): ProbeState;
  /** Take a fresh reading now (one call at a time: concurrent callers share it). */
  refresh(): Promise<GpuSnapshot>;
  /** Subscribe to new readings; returns an unsubscribe function. */
  onReading(cb: (snapshot: GpuSnapshot) => void): () => void;
}
