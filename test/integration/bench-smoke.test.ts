// A tiny run of the benchmark harness (`BENCH_QUICK=1 npm run bench`), so it keeps working: every
// scenario must come back with numeric figures. Without nginx installed the quick run leaves the
// nginx column out (and says so); the full `npm run bench` installs it.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from './ensure-built.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Row {
  scenario: string;
  metric: string;
  direct: number | null;
  nginx: number | null;
  gateway: number | null;
}

/**
 * Runs the bench in a process group of its own and waits for it. Past `timeoutMs` the whole group
 * gets SIGTERM (the gateway it started then stops its models), and SIGKILL if it is still there
 * 10 s later, so a bench that hangs leaves nothing running.
 */
async function runBench(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['test/bench/run.mjs'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const signalGroup = (sig: NodeJS.Signals): boolean => {
    try {
      process.kill(-child.pid!, sig);
      return true;
    } catch {
      return false; // the group is empty
    }
  };
  const timer = setTimeout(() => {
    stderr += `\n[bench-smoke] still running after ${timeoutMs} ms: SIGTERM to its process group`;
    signalGroup('SIGTERM');
  }, timeoutMs);
  const status = await exited;
  clearTimeout(timer);
  // What the bench started in its group (mock servers, the gateway) goes with it.
  const until = Date.now() + 10_000;
  while (signalGroup(0 as unknown as NodeJS.Signals) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  signalGroup('SIGKILL');
  return { status, stdout, stderr };
}

describe('npm run bench (BENCH_QUICK=1)', () => {
  // The gateway runs from dist/: build it first when it is missing or older than the sources (tsc is slow on a loaded machine).
  beforeAll(ensureBuilt, 240_000);

  it('runs every scenario and writes numeric figures to bench-results.json', async () => {
    const out = path.join(dir, 'bench-results.json');
    const r = await runBench({ ...process.env, BENCH_QUICK: '1', BENCH_OUT: out }, 110_000);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const res = JSON.parse(readFileSync(out, 'utf8'));
    const nginx = !res.skipped.includes('nginx');
    if (!nginx) expect(r.stdout).toMatch(/nginx: (not installed|left out)/);
    expect(typeof res.node).toBe('string');
    expect(res.machine.cpus).toBeGreaterThan(0);

    const scenarios = new Set(res.rows.map((x: Row) => x.scenario));
    for (const s of ['nonstream_c1', 'nonstream_c16', 'nonstream_c128', 'body_1mib', 'stream_1', 'stream_64', 'stream_512']) {
      expect(scenarios, s).toContain(s);
    }
    const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
    for (const row of res.rows as Row[]) {
      const label = `${row.scenario} ${row.metric}`;
      if (row.metric.includes('CPU') || row.metric.includes('RSS')) expect(num(row.gateway), label).toBe(true);
      else {
        expect(num(row.direct), label).toBe(true);
        expect(num(row.gateway), label).toBe(true);
      }
      if (nginx && !row.metric.includes('RSS') && !row.metric.includes('CPU')) expect(num(row.nginx), label).toBe(true);
    }
    for (const s of ['nonstream_c16', 'nonstream_c128']) expect(res.medians[s].gateway.rps).toBeGreaterThan(0);
    expect(num(res.rss.gatewayIdleFreshMiB)).toBe(true);
    expect(num(res.rss.gatewayHolding512StreamsMiB)).toBe(true);
    expect(num(res.readiness.firstByteLagMs)).toBe(true);
    expect(num(res.readiness.readyStateLagMs)).toBe(true);
    expect(num(res.eviction.evictAndStartMs)).toBe(true);
    expect(res.targets.length).toBeGreaterThan(0);
  }, 120_000);
});
