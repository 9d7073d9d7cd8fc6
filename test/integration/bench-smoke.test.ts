// A tiny run of the benchmark harness (`BENCH_QUICK=1 npm run bench`), so it keeps working: every
// scenario must come back with numeric figures. Without nginx installed the quick run leaves the
// nginx column out (and says so); the full `npm run bench` installs it.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

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

describe('npm run bench (BENCH_QUICK=1)', () => {
  it.skipIf(!existsSync(path.join(ROOT, 'dist/gateway/cli.js')))(
    'runs every scenario and writes numeric figures to bench-results.json',
    () => {
      const out = path.join(dir, 'bench-results.json');
      const r = spawnSync(process.execPath, ['test/bench/run.mjs'], {
        cwd: ROOT,
        env: { ...process.env, BENCH_QUICK: '1', BENCH_OUT: out },
        encoding: 'utf8',
        timeout: 110_000,
      });
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
      // swap: both models answered with turn-taking, in turns (more starts than the two first ones).
      for (const id of ['swap-a', 'swap-b']) {
        expect(res.swap.turns.perModel[id].answered, id).toBeGreaterThan(0);
        expect(num(res.swap.turns.perModel[id].p95Ms), id).toBe(true);
      }
      expect(res.swap.turns.starts).toBeGreaterThan(2);
      expect(res.swap.never.swapAfterSeconds).toBe(0);
      expect(r.stdout).toMatch(/\| swap \| swap-a p50 \/ p95 latency/);
      expect(res.targets.length).toBeGreaterThan(0);
    },
    120_000,
  );
});
