// What a container's inspect answer and labels say: how it ended, which port it published, which
// GPUs it was given. Pure.

import type Dockerode from 'dockerode';
import type { ExitInfo } from './runtime.js';

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

/** The part of `State` in an inspect answer that the gateway reads. */
export interface ContainerState {
  Running?: boolean;
  Status?: string;
  ExitCode?: number;
  OOMKilled?: boolean;
  Error?: string;
  Pid?: number;
}

/** How a container ended, in the words the status document and error messages use. */
export function exitInfoFromState(state: ContainerState | null, opts: { requested: boolean; sawOom: boolean }): ExitInfo {
  if (!state) {
    return {
      code: null,
      signal: null,
      oomKilled: opts.sawOom,
      reason: opts.sawOom ? 'killed (OOM)' : opts.requested ? 'stopped' : 'container removed',
      requested: opts.requested,
    };
  }
  const code = typeof state.ExitCode === 'number' ? state.ExitCode : null;
  const oomKilled = Boolean(state.OOMKilled) || opts.sawOom;
  const signal = code !== null && code > 128 && SIGNALS[code - 128] ? SIGNALS[code - 128] : null;
  let reason: string;
  if (oomKilled) reason = 'killed (OOM)';
  else if (opts.requested) reason = code === null ? 'stopped' : `stopped (exit code ${code})`;
  else if (signal) reason = `killed by ${signal} (exit code ${code})`;
  else if (code !== null) reason = `exited with code ${code}`;
  else reason = 'exited';
  if (state.Error && !opts.requested) reason += `: ${state.Error}`;
  return { code, signal, oomKilled, reason, requested: opts.requested };
}

/** The host port Docker published for `containerPort`/tcp on 127.0.0.1 (any bound port when undefined). */
export function publishedPort(info: Dockerode.ContainerInspectInfo, containerPort: number | undefined): number | null {
  const ports = (info.NetworkSettings?.Ports ?? {}) as Record<string, Array<{ HostIp: string; HostPort: string }> | null>;
  const keys = containerPort !== undefined ? [`${containerPort}/tcp`] : Object.keys(ports).filter((k) => k.endsWith('/tcp'));
  for (const key of keys) {
    const bindings = ports[key] ?? [];
    const b = bindings.find((x) => x.HostIp === '127.0.0.1') ?? bindings[0];
    if (b && Number(b.HostPort) > 0) return Number(b.HostPort);
  }
  return null;
}

/** The GPU indices in a container's GPU label ("" = none); null when absent or unreadable. */
export function parseGpuLabel(value: string | undefined): number[] | null {
  if (value === undefined) return null;
  if (value === '') return [];
  const list = value.split(',').map(Number);
  return list.every((n) => Number.isInteger(n) && n >= 0) ? list : null;
}
