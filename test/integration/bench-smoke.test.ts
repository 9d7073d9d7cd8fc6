// A tiny run of the benchmark harness (`BENCH_QUICK=1 npm run bench`), so it keeps working: every
// scenario must come back with numeric figures for the gateway and for each reference (nginx, the
// floor, the Go reverse proxy). Without nginx or go installed the quick run leaves that column out
// (and says so); the full `npm run bench` installs them. And a bench stopped by a signal must
// leave none of the processes it started behind.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
  floor: number | null;
  go: number | null;
  gateway: number | null;
  gatewayOverFloor: number | null;
  gatewayOverGo: number | null;
}

/** Every live descendant of `root` (from /proc's parent links). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [pid, pp] of parent) {
      if (pp !== p) continue;
      out.push(pid);
      walk(pid);
    }
  };
  walk(root);
  return out;
}

function alive(pid: number): boolean {
  try {
    // A zombie has exited; its parent just has not reaped it yet.
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('npm run bench (BENCH_QUICK=1)', () => {
  // The bench runs the gateway from dist/: build it first when it is missing or older than the sources.
  beforeAll(ensureBuilt, 240_000);

  it('runs every scenario and writes numeric figures to bench-results.json', () => {
    const out = path.join(dir, 'bench-results.json');
    const r = spawnSync(process.execPath, ['test/bench/run.mjs'], {
      cwd: ROOT,
      env: { ...process.env, BENCH_QUICK: '1', BENCH_OUT: out },
      encoding: 'utf8',
      timeout: 170_000, // five targets on a busy 2-core machine: ~80 s seen
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const res = JSON.parse(readFileSync(out, 'utf8'));
    const nginx = !res.skipped.includes('nginx');
    if (!nginx) expect(r.stdout).toMatch(/nginx: (not installed|left out)/);
    const go = !res.skipped.includes('go');
    if (!go) expect(r.stdout).toMatch(/go: (not installed|left out)/);
    expect(res.skipped).not.toContain('floor');
    expect(r.stdout).toContain('| gw/floor | gw/go |');
    expect(typeof res.node).toBe('string');
    expect(res.machine.cpus).toBeGreaterThan(0);
    // What reading the engines costs: CPU per scrape, and usage reading against a proxied stream.
    expect(res.engineFigures.scrape.usPerScrape).toBeGreaterThan(0);
    expect(res.engineFigures.idle.scraping.modelsWithFigures).toBeGreaterThanOrEqual(0);
    expect(typeof res.engineFigures.scrape.figuresRead).toBe('boolean');
    expect(res.engineFigures.usage.ratio).toBeGreaterThan(0);

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
      // The floor and the Go proxy are single processes: their CPU and RSS are measured too.
      expect(num(row.floor), label).toBe(true);
      if (!row.metric.startsWith('added')) expect(num(row.gatewayOverFloor), label).toBe(true);
      if (go) expect(num(row.go), label).toBe(true);
    }
    const names = res.targets.map((t: { name: string }) => t.name);
    expect(names).toContain('CPU per request (c=16) ≤ 1.25× floor');
    expect(names).toContain('throughput c=128 ≥ 1.2× go');
    for (const s of ['nonstream_c16', 'nonstream_c128']) expect(res.medians[s].gateway.rps).toBeGreaterThan(0);
    expect(num(res.rss.gatewayIdleFreshMiB)).toBe(true);
    expect(num(res.rss.gatewayHolding512StreamsMiB)).toBe(true);
    expect(num(res.readiness.firstByteLagMs)).toBe(true);
    expect(num(res.readiness.readyStateLagMs)).toBe(true);
    expect(num(res.eviction.evictAndStartMs)).toBe(true);
    // The priority scenario: the interactive client's figures alone and under both floods, and the ratios.
    for (const v of ['alone', 'lanes', 'unmarked']) expect(num(res.priority[v].p95Ms), v).toBe(true);
    expect(num(res.priority.ratios.lanesP95)).toBe(true);
    expect(num(res.priority.ratios.unmarkedP95)).toBe(true);
    // swap: both models answered with turn-taking, in turns (more starts than the first two).
    for (const id of ['swap-a', 'swap-b']) {
      expect(res.swap.turns.perModel[id].answered, id).toBeGreaterThan(0);
      expect(num(res.swap.turns.perModel[id].p95Ms), id).toBe(true);
    }
    expect(res.swap.turns.starts).toBeGreaterThan(2);
    expect(res.swap.never.swapAfterSeconds).toBe(0);
    expect(r.stdout).toMatch(/\| swap \| swap-a p50 \/ p95 latency/);
    expect(res.targets.length).toBeGreaterThan(0);
  }, 180_000);

  it.runIf(process.platform === 'linux')(
    'SIGTERM stops every process the bench started (Linux only: finds them in /proc)',
    async () => {
      const bench = spawn(process.execPath, ['test/bench/run.mjs'], {
        cwd: ROOT,
        env: { ...process.env, BENCH_QUICK: '1', BENCH_OUT: path.join(dir, 'killed.json') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      bench.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      bench.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
      const exited = new Promise<number | null>((resolve) => bench.once('exit', (code) => resolve(code)));
      // Once the first round runs, the mock, the proxies, the gateway and a load worker are up.
      let code: number | null | undefined;
      void exited.then((c) => (code = c));
      await expect
        .poll(() => (code !== undefined ? `exited ${code}: ${out}` : out), { timeout: 90_000, interval: 100 })
        .toMatch(/^(?!exited)[\s\S]*round 1\/1/);
      const started = descendants(bench.pid!);
      expect(started.length, out).toBeGreaterThanOrEqual(4);
      bench.kill('SIGTERM');
      expect(await exited, out).toBe(143);
      expect(out).toContain('SIGTERM: stopping');
      // Children stopped before the bench exited; grandchildren (nginx's worker) follow their parent.
      await expect.poll(() => started.filter(alive), { timeout: 5000, interval: 100 }).toEqual([]);
      expect(existsSync(path.join(dir, 'killed.json'))).toBe(false);
    },
    120_000,
  );
});
