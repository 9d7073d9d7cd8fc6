// `node gateway/bin.mjs serve --config FILE` as a user runs it, for tests that need the gateway in
// a process of its own (signals, SIGKILL, a client racing the gateway's close): its output
// collected, resolved once it prints `listening on`.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, waitUntil } from './helpers.js';

export interface CliServe {
  child: ChildProcess;
  url: string;
  /** Everything it wrote so far, stdout and stderr. */
  output(): string;
  exited: Promise<number | null>;
}

export function spawnServe(file: string, port = 0): ChildProcess {
  return spawn(process.execPath, [path.join(REPO_ROOT, 'gateway/bin.mjs'), 'serve', '--config', file, '--port', String(port)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
}

/** Starts `serve` on a free port; a start that never listens is killed and fails with its output. */
export async function serveCli(file: string): Promise<CliServe> {
  const child = spawnServe(file);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await waitUntil(() => /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out)?.[1], 20_000, 'serve to listen', 20).catch(
    (err: Error) => {
      child.kill('SIGKILL');
      throw new Error(`${err.message}\n--- serve output:\n${out.slice(-3000)}`);
    },
  );
  return { child, url, output: () => out, exited };
}
