// The measured GPU source: runs nvidia-smi (no shell), parses it, keeps the last good reading.
//
// One poll = the two queries below, run side by side; the polling itself (one poll at a time,
// last good snapshot kept, `error` phrased for a user) is PollingProbe's. Snapshot `at` is the
// time the poll *began*, so a caller waiting for memory released after time T can require
// `snapshot.at >= T` (a shared poll that began earlier cannot satisfy it by accident).

import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { PollingProbe } from './polling-probe.js';
import type { GpuSnapshot } from './probe.js';
import { APPS_QUERY_FIELDS, GPU_QUERY_FIELDS, GPU_QUERY_FIELDS_NO_RESERVED, parseComputeApps, parseGpuQuery } from './nvidia-smi-parse.js';

export interface NvidiaSmiProbeOptions {
  /** Executable: a bare name looked up in PATH, or a path. */
  path: string;
  pollSeconds: number;
  /** Per-invocation timeout (default 5000 ms). */
  timeoutMs?: number;
  /** Epoch-ms clock (tests). */
  now?: () => number;
  /** Environment for nvidia-smi (tests); default: the gateway's own. */
  env?: NodeJS.ProcessEnv;
  /**
   * Runs nvidia-smi with these arguments somewhere else (a remote host, over its ssh connection);
   * rejects like execFile does (an error with `code`, `killed`, `stdout`, `stderr`). Default:
   * execFile of `path` here.
   */
  exec?: (args: string[], timeoutMs: number) => Promise<ExecResult>;
}

/** A poll that failed; `message` is phrased for a user, `cause` is the original error. */
export class GpuProbeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GpuProbeError';
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export interface ExecFailure extends Error {
  code?: string | number | null;
  killed?: boolean;
  signal?: NodeJS.Signals | null;
  stdout?: string;
  stderr?: string;
}

function firstLine(s: string | undefined): string {
  return (
    (s ?? '')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  );
}

export class NvidiaSmiProbe extends PollingProbe {
  readonly kind = 'nvidia-smi' as const;
  readonly path: string;
  private readonly timeoutMs: number;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly run: NvidiaSmiProbeOptions['exec'];
  /** Old drivers reject `memory.reserved`: switched to the shorter query once seen. */
  private gpuFields: readonly string[] = GPU_QUERY_FIELDS;
  /** Number of nvidia-smi invocations so far (diagnostics and tests). */
  calls = 0;

  constructor(opts: NvidiaSmiProbeOptions) {
    super({ intervalMs: Math.max(50, Math.round(opts.pollSeconds * 1000)), schedule: 'from-start', now: opts.now });
    this.path = opts.path;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.env = opts.env;
    this.run = opts.exec;
  }

  protected override async read(at: number): Promise<GpuSnapshot> {
    let gpuOut: ExecResult;
    let appsOut: ExecResult;
    try {
      [gpuOut, appsOut] = await this.queryBoth();
    } catch (err) {
      if (this.gpuFields === GPU_QUERY_FIELDS && mentionsInvalidReservedField(err)) {
        this.gpuFields = GPU_QUERY_FIELDS_NO_RESERVED;
        [gpuOut, appsOut] = await this.queryBoth();
      } else {
        throw err;
      }
    }
    try {
      const gpus = parseGpuQuery(gpuOut.stdout, this.gpuFields);
      const processes = parseComputeApps(appsOut.stdout, gpus);
      return { at, gpus, processes, measured: true };
    } catch (err) {
      throw new GpuProbeError(`nvidia-smi output not understood: ${(err as Error).message}`, { cause: err });
    }
  }

  protected override toError(err: unknown): GpuProbeError {
    return err instanceof GpuProbeError ? err : this.describe(err);
  }

  private queryBoth(): Promise<[ExecResult, ExecResult]> {
    return Promise.all([
      this.exec([`--query-gpu=${this.gpuFields.join(',')}`, '--format=csv,noheader,nounits']),
      this.exec([`--query-compute-apps=${APPS_QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits']),
    ]);
  }

  private exec(args: string[]): Promise<ExecResult> {
    this.calls++;
    if (this.run) return this.run(args, this.timeoutMs);
    return new Promise((resolve, reject) => {
      execFile(
        this.path,
        args,
        { timeout: this.timeoutMs, killSignal: 'SIGKILL', windowsHide: true, maxBuffer: 4 * 1024 * 1024, env: this.env },
        (error, stdout, stderr) => {
          if (error) {
            const e = error as ExecFailure;
            e.stdout = stdout;
            e.stderr = stderr;
            reject(e);
          } else {
            resolve({ stdout, stderr });
          }
        },
      );
    });
  }

  private describe(err: unknown): GpuProbeError {
    const e = err as ExecFailure;
    if (e?.code === 'ENOENT') {
      return new GpuProbeError(`nvidia-smi not found at ${this.path}`, { cause: err });
    }
    if (e?.code === 'EACCES') {
      return new GpuProbeError(`nvidia-smi at ${this.path} cannot be run (permission denied)`, { cause: err });
    }
    if (e?.killed || (e?.signal && e.code === null)) {
      if (e.killed) return new GpuProbeError(`nvidia-smi timed out after ${this.timeoutMs} ms`, { cause: err });
      return new GpuProbeError(`nvidia-smi failed: killed by ${e.signal}`, { cause: err });
    }
    if (typeof e?.code === 'number') {
      // nvidia-smi prints some failures ("NVIDIA-SMI has failed because…") on stdout.
      const line = firstLine(e.stderr) || firstLine(e.stdout) || `exit code ${e.code}`;
      return new GpuProbeError(`nvidia-smi failed: ${line}`, { cause: err });
    }
    return new GpuProbeError(`nvidia-smi failed: ${e?.message ?? String(err)}`, { cause: err });
  }
}

function mentionsInvalidReservedField(err: unknown): boolean {
  const e = err as ExecFailure;
  const text = `${e?.stderr ?? ''}\n${e?.stdout ?? ''}`;
  return /memory\.reserved/i.test(text) && /not a valid field/i.test(text);
}

/**
 * Whether an nvidia-smi executable exists for `gpu.probe: auto` (`envPath`: the OS search path,
 * the same one execFile uses): a path with a separator is
 * checked directly, a bare name is looked up in PATH. Only existence and the execute bit are
 * checked (no spawn): an nvidia-smi that exists but fails (driver not loaded) is still chosen,
 * so the failure is reported rather than hidden behind a fallback.
 */
export async function findNvidiaSmi(exe: string, envPath: string | undefined = process.env.PATH): Promise<boolean> {
  if (!exe) return false;
  const isExecutable = async (p: string): Promise<boolean> => {
    try {
      await access(p, process.platform === 'win32' ? fsConstants.F_OK : fsConstants.X_OK);
      return (await stat(p)).isFile();
    } catch {
      return false;
    }
  };
  if (exe.includes('/') || exe.includes(path.sep)) return isExecutable(exe);
  const exts = process.platform === 'win32' ? ['', '.exe'] : [''];
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      if (await isExecutable(path.join(dir, exe + ext))) return true;
    }
  }
  return false;
}
