// nvidia-smi on a remote host, run over the host's ssh connection (an exec channel), for the
// same probe and parser as the local one (gateway/gpu/nvidia-smi-probe.ts). Failures are shaped
// like execFile's, so the probe words them the same way.

import { NvidiaSmiProbe, type ExecFailure, type ExecResult } from '../gpu/nvidia-smi-probe.js';
import type { SshConnection } from './ssh-connection.js';

/** POSIX shell single quoting. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./=,:@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function remoteNvidiaSmiExec(conn: Pick<SshConnection, 'exec'>, command: string) {
  return async (args: string[], timeoutMs: number): Promise<ExecResult> => {
    let r;
    try {
      r = await conn.exec([command, ...args].map(shellQuote).join(' '), { timeoutMs });
    } catch (err) {
      const e = err as ExecFailure;
      throw Object.assign(new Error(e.message, { cause: err }), { killed: e.killed ?? false, code: 'EHOST' });
    }
    if (r.code === 0) return { stdout: r.stdout, stderr: r.stderr };
    // 127: the remote shell found no such command.
    const failure: ExecFailure = Object.assign(new Error(`nvidia-smi exited with ${r.code ?? r.signal}`), {
      code: r.code === 127 ? 'ENOENT' : r.code,
      signal: (r.signal as NodeJS.Signals | null) ?? null,
      stdout: r.stdout,
      stderr: r.stderr,
    });
    throw failure;
  };
}

export function remoteNvidiaSmiProbe(
  conn: Pick<SshConnection, 'exec'>,
  opts: { host: string; command?: string; pollSeconds: number; now?: () => number },
) {
  const command = opts.command ?? 'nvidia-smi';
  return new NvidiaSmiProbe({
    path: `${command} on host ${opts.host}`,
    pollSeconds: opts.pollSeconds,
    now: opts.now,
    exec: remoteNvidiaSmiExec(conn, command),
  });
}
