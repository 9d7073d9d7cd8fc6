// `serve` without --config uses the desktop app's config file ($XDG_CONFIG_HOME/vllm-gateway/
// gateway.yaml on Linux), writing the documented default there when it is absent, and says which
// file it used.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_YAML } from '../../gateway/config/default-config.js';
import { http, REPO_ROOT, waitUntil } from './helpers.js';

const home = mkdtempSync(path.join(tmpdir(), 'vllm-gw-serve-home-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

async function serveOnce(env: NodeJS.ProcessEnv): Promise<{ out: string; err: string; code: number | null; status: unknown }> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'gateway/bin.mjs'), 'serve', '--port', '0'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await waitUntil(() => /^dashboard: /m.test(out), 20_000, `serve to start; stderr: ${err}`);
    const url = /^listening on (\S+)$/m.exec(out)![1]!;
    const status = (await http(url, '/gateway/status')).json;
    child.kill('SIGTERM');
    return { out, err, code: await exited, status };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('serve without --config', () => {
  it('writes and uses the app’s default config, then reuses it', async () => {
    const xdg = path.join(home, 'xdg');
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: xdg, PATH: process.env.PATH };
    const file = path.join(xdg, 'vllm-gateway', 'gateway.yaml');

    const first = await serveOnce(env);
    expect(first.err).toContain(`config: ${file} (written with the defaults; add models there)\n`);
    expect(first.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(DEFAULT_CONFIG_YAML);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((first.status as { models: unknown[] }).models).toEqual([]);

    // The user's edits are kept and used.
    writeFileSync(
      file,
      `${DEFAULT_CONFIG_YAML}\n`.replace('models: {}', 'models:\n  remote-one: { runtime: remote, url: "http://127.0.0.1:9" }'),
    );
    const second = await serveOnce(env);
    expect(second.err).toContain(`config: ${file} (no --config given)\n`);
    expect((second.status as { models: Array<{ id: string }> }).models.map((m) => m.id)).toEqual(['remote-one']);
  }, 120_000);

  it('check-config still needs --config', async () => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'gateway/bin.mjs'), 'check-config'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toMatch(/^--config FILE is required/);
  });
});
