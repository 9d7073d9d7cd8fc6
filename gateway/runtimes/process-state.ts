// The record of the process model servers a gateway has started (P14 for `runtime: process`): a
// small JSON file beside the config, so that a gateway restarted after SIGKILL can find the servers
// its predecessor left running, adopt the ones that still match the config and kill the others.
//
// Linux only: a process is identified by its pid together with its start time (/proc/<pid>/stat
// field 22), so a pid the kernel has since given to another program is never taken for ours.

import { createHash } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { effectiveEnv } from '../config/sleep-config.js';
import type { ProcessModelConfig } from '../config/types.js';
import { forEachProcStat, statFieldsAfterComm } from '../proc-stat.js';

export interface ProcessRecord {
  modelId: string;
  /** The server's pid, which is also its process group id (it is spawned detached). */
  pid: number;
  /** /proc/<pid>/stat field 22: clock ticks after boot at which the process started. */
  startTime: number;
  port: number;
  /** processModelHash() of the model it was started for. */
  hash: string;
  /** The GPUs placement gave it (CUDA_VISIBLE_DEVICES), so an adopted server is booked where it runs. */
  gpuIndices?: number[];
  /**
   * The gateway process that started or adopted it (pid and start time). While that gateway runs,
   * another one on the same config (run twice by mistake) neither adopts nor kills the server.
   */
  owner?: { pid: number; startTime: number };
}

interface StateFile {
  version: 1;
  processes: ProcessRecord[];
}

/** Whether this platform has what the state file relies on (/proc with start times). */
export const PROCESS_STATE_SUPPORTED = process.platform === 'linux';

/** What identifies a process model server: its command, args and env as configured (placeholders
 * unexpanded: the port differs on every start), its GPUs and the memory share it was given. Pure. */
export function processModelHash(model: ProcessModelConfig, gpuMemoryUtilization: number): string {
  const env = Object.fromEntries(Object.entries(effectiveEnv(model)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const identity = JSON.stringify({
    command: model.command,
    args: model.args,
    env,
    gpus: model.gpus,
    gpuMemoryUtilization,
  });
  return createHash('sha256').update(identity).digest('hex').slice(0, 32);
}

function isRecord(v: unknown): v is ProcessRecord {
  if (!v || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  const posInt = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x > 0;
  return (
    typeof r.modelId === 'string' &&
    posInt(r.pid) &&
    (r.pid as number) > 1 &&
    typeof r.startTime === 'number' &&
    Number.isInteger(r.startTime) &&
    r.startTime >= 0 &&
    posInt(r.port) &&
    (r.port as number) < 65536 &&
    typeof r.hash === 'string' &&
    (r.gpuIndices === undefined || (Array.isArray(r.gpuIndices) && r.gpuIndices.every((i) => Number.isInteger(i) && (i as number) >= 0))) &&
    (r.owner === undefined || isOwner(r.owner))
  );
}

function isOwner(v: unknown): v is { pid: number; startTime: number } {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return Number.isInteger(o.pid) && (o.pid as number) > 0 && Number.isInteger(o.startTime) && (o.startTime as number) >= 0;
}

/** Parses the state file's text; entries that are not well-formed records are dropped. Pure. */
export function parseStateText(text: string): ProcessRecord[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return [];
  }
  const list = data && typeof data === 'object' ? (data as Partial<StateFile>).processes : undefined;
  if (!Array.isArray(list)) return [];
  return list.filter(isRecord).map((r) => ({
    modelId: r.modelId,
    pid: r.pid,
    startTime: r.startTime,
    port: r.port,
    hash: r.hash,
    ...(r.gpuIndices ? { gpuIndices: [...r.gpuIndices] } : {}),
    ...(r.owner ? { owner: { pid: r.owner.pid, startTime: r.owner.startTime } } : {}),
  }));
}

/** The records in `file`; none when it is missing or unreadable. */
export async function readStateFile(file: string): Promise<ProcessRecord[]> {
  try {
    return parseStateText(await readFile(file, 'utf8'));
  } catch {
    return [];
  }
}

let tmpCounter = 0;

/**
 * Replaces `file` with these records atomically (written to a temporary file with mode 0600, then
 * renamed over it), or removes it when there are none.
 */
export async function writeStateFile(file: string, records: readonly ProcessRecord[]): Promise<void> {
  if (records.length === 0) {
    await unlink(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    return;
  }
  const body: StateFile = { version: 1, processes: [...records] };
  const tmp = `${file}.${process.pid}.${++tmpCounter}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

export interface ProcStat {
  /** R, S, D, Z, T, … */
  state: string;
  pgid: number;
  startTime: number;
}

/** Parses a /proc/<pid>/stat line: "pid (comm) state ppid pgrp … starttime(22) …". Pure. */
export function parseProcStat(stat: string): ProcStat | null {
  const f = statFieldsAfterComm(stat);
  if (!f) return null;
  const state = f[3 - 3];
  const pgid = Number(f[5 - 3]);
  const startTime = Number(f[22 - 3]);
  if (!state || !Number.isInteger(pgid) || !Number.isInteger(startTime)) return null;
  return { state, pgid, startTime };
}

/** /proc/<pid>/stat, parsed; null when there is no such process (or no /proc). */
export async function procStat(pid: number): Promise<ProcStat | null> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Whether `pid` is still the process that started at `startTime` and has not exited (a zombie has). */
export async function isSameProcess(pid: number, startTime: number): Promise<boolean> {
  const s = await procStat(pid);
  return s !== null && s.state !== 'Z' && s.state !== 'X' && s.startTime === startTime;
}

/**
 * Live (not zombie) processes in process group `pgid` that started no earlier than `minStartTime`:
 * the server and the workers it forked, even after the server itself is gone. A pgid stays taken
 * while any member lives, so members found this way belong to the group the record describes.
 */
export async function groupMembers(pgid: number, minStartTime: number): Promise<number[]> {
  const found: number[] = [];
  try {
    await forEachProcStat((pid, stat) => {
      const s = parseProcStat(stat);
      if (s && s.pgid === pgid && s.state !== 'Z' && s.state !== 'X' && s.startTime >= minStartTime) found.push(pid);
    });
  } catch {
    return []; // no /proc
  }
  return found.sort((a, b) => a - b);
}
