// Reading /proc/<pid>/stat (Linux): the one parse of its line and the one walk over every process,
// shared by the GPU attribution (process trees) and the process runtime's record (process groups).

import { readFile } from 'node:fs';
import { readdir } from 'node:fs/promises';

/**
 * The fields of a /proc/<pid>/stat line after the command name, "pid (comm) state ppid pgrp …":
 * element 0 is field 3 (state), so field N is element N - 3. The comm may hold spaces and parens,
 * hence the last ')'. Null for a line without one. Pure.
 */
export function statFieldsAfterComm(stat: string): string[] | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  return stat
    .slice(close + 1)
    .trim()
    .split(/\s+/);
}

/**
 * Calls `visit` with each live process's pid and stat line; processes gone since the listing are
 * passed over. Rejects when /proc cannot be listed.
 */
export async function forEachProcStat(visit: (pid: number, stat: string) => void): Promise<void> {
  const names = await readdir('/proc');
  // Callback readFile: markedly cheaper than fs/promises for hundreds of tiny procfs files.
  await Promise.all(
    names
      .filter((name) => /^\d+$/.test(name))
      .map(
        (name) =>
          new Promise<void>((resolve) => {
            readFile(`/proc/${name}/stat`, 'utf8', (err, stat) => {
              if (!err) visit(Number(name), stat);
              resolve();
            });
          }),
      ),
  );
}
