// PIDs of process trees, so GPU memory held by a model server's children (vLLM's engine core,
// tensor-parallel workers) is attributed to that model. One scan of the process table per call:
// /proc/*/stat on Linux, `ps -A -o pid=,ppid=` elsewhere.

import { execFile } from 'node:child_process';
import { forEachProcStat, statFieldsAfterComm } from '../proc-stat.js';

/** Parses the ppid out of a /proc/PID/stat line: "pid (comm) state ppid …". Pure. */
export function parseProcStatPpid(stat: string): number | null {
  const ppid = Number(statFieldsAfterComm(stat)?.[4 - 3]);
  return Number.isInteger(ppid) && ppid >= 0 ? ppid : null;
}

/** The roots and all their descendants, given a pid → ppid table. Pure. */
export function descendantsFromTable(rootPids: Iterable<number>, parentOf: ReadonlyMap<number, number>, includeRoots = true): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parentOf) {
    let list = children.get(ppid);
    if (!list) children.set(ppid, (list = []));
    list.push(pid);
  }
  const roots = [...new Set(rootPids)];
  const seen = new Set<number>(roots);
  const stack = [...roots];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    for (const child of children.get(pid) ?? []) {
      if (!seen.has(child)) {
        seen.add(child);
        stack.push(child);
      }
    }
  }
  if (!includeRoots) for (const r of roots) seen.delete(r);
  return [...seen].sort((a, b) => a - b);
}

async function readProcTable(): Promise<Map<number, number>> {
  const table = new Map<number, number>();
  await forEachProcStat((pid, stat) => {
    const ppid = parseProcStatPpid(stat);
    if (ppid !== null) table.set(pid, ppid);
  });
  return table;
}

function readPsTable(): Promise<Map<number, number>> {
  return new Promise((resolve) => {
    execFile('ps', ['-A', '-o', 'pid=,ppid='], { timeout: 5000 }, (err, stdout) => {
      const table = new Map<number, number>();
      if (!err) {
        for (const line of stdout.split('\n')) {
          const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(line);
          if (m) table.set(Number(m[1]), Number(m[2]));
        }
      }
      resolve(table);
    });
  });
}

/**
 * `rootPids` and every process descended from them that is alive now (roots are included as
 * given, alive or not, unless `includeRoots` is false). Never throws: without a process table
 * it returns the roots alone.
 */
export async function descendantPids(rootPids: number[], opts: { includeRoots?: boolean } = {}): Promise<number[]> {
  const includeRoots = opts.includeRoots ?? true;
  if (rootPids.length === 0) return [];
  let table: Map<number, number>;
  try {
    table = process.platform === 'linux' ? await readProcTable() : await readPsTable();
  } catch {
    table = new Map();
  }
  return descendantsFromTable(rootPids, table, includeRoots);
}
