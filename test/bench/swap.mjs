#!/usr/bin/env node
// The `swap` scenario of `npm run bench` (docs/benchmarks.md): two mock models that do not fit on the GPU
// together (14 GiB each on a static 24 GiB GPU), a start delay standing for a real vLLM cold start,
// and clients alternating between them (client i streams to model i mod 2, one request after
// another). Run with scheduling.swapAfterSeconds as configured and with 0 (busy models never
// displaced), in the same run; per model p50/p95 latency, answers and errors, starts, and the
// ratio of each figure to the swapAfterSeconds 0 run. The sleep half: the same turn-taking run
// with `sleep.level: 1` models (an evicted model sleeps and wakes instead of starting cold), the
// wake delay set against the start delay in the ratio of vLLM's sleep-mode blog (a cold start of
// ~8 s against a level-1 wake of ~0.4 s: 20 to 1), with starts, sleeps and wakes, and the ratio of
// each figure to the run without sleep.
//
//   node test/bench/swap.mjs          this scenario alone (BENCH_QUICK=1: a few seconds)
//
// Every request's latency is from sending it to its stream's end: a client whose model is not
// loaded waits for the model's turn (queue, yield, start) inside that time. A request that fails
// (queue_timeout after queueTimeoutSeconds) counts its wait too.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, percentile, post, spawnLogged, stop, mockServeCommand } from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MOCK = path.join(ROOT, 'test/fixtures/mock-vllm.mjs');
const ADMIN = 'bench-admin-token-0123456789abcdefghijklmnopqrstuv';
const MODELS = ['swap-a', 'swap-b'];

/** The scenario's knobs; quick: a smoke run of a few seconds. */
export function swapSettings(quick) {
  return quick
    ? {
        clients: 4,
        durationS: 4,
        startDelayMs: 200,
        wakeDelayMs: 10,
        sleepDelayMs: 5,
        swapAfterSeconds: 1,
        queueTimeoutSeconds: 3,
        stream: { tokens: 4, tokenDelayMs: 50 },
      }
    : {
        clients: 6,
        durationS: 40,
        startDelayMs: 3000,
        wakeDelayMs: 150,
        sleepDelayMs: 50,
        swapAfterSeconds: 5,
        queueTimeoutSeconds: 20,
        stream: { tokens: 10, tokenDelayMs: 100 },
      };
}

async function startGateway(tmp, name, s, swapAfterSeconds, sleep) {
  const port = await freePort();
  const model = {
    runtime: 'process',
    command: mockServeCommand(MOCK, [
      '--mock-start-delay-ms',
      String(s.startDelayMs),
      ...(sleep
        ? ['--enable-sleep-mode', '--mock-wake-delay-ms', String(s.wakeDelayMs), '--mock-sleep-delay-ms', String(s.sleepDelayMs)]
        : []),
    ]),
    vramGiB: 14,
    ttlSeconds: 0,
    ...(sleep ? { sleep: { level: 1 } } : {}),
  };
  const config = {
    listen: { host: '127.0.0.1', port },
    auth: { adminToken: ADMIN },
    limits: { queueTimeoutSeconds: s.queueTimeoutSeconds },
    // Room in host RAM for both sleepers whatever this machine has (auto would be half of it).
    scheduling: { swapAfterSeconds, ...(sleep ? { sleepHostRamGiB: 32 } : {}) },
    gpu: { probe: 'static', static: [{ name: 'Bench GPU', totalGiB: 24 }] },
    models: Object.fromEntries(MODELS.map((id) => [id, model])),
  };
  const cfgFile = path.join(tmp, `swap-${name}.yaml`);
  writeFileSync(cfgFile, JSON.stringify(config, null, 2));
  const logFile = path.join(tmp, `swap-${name}.log`);
  const { child } = await spawnLogged(
    process.execPath,
    [path.join(ROOT, 'gateway/bin.mjs'), 'serve', '--config', cfgFile],
    logFile,
    /listening on (http:\/\/\S+)/,
    {
      cwd: ROOT,
    },
  );
  return { child, url: `http://127.0.0.1:${port}`, logFile };
}

/** Lines of the gateway's JSON log with this message. */
function logged(logFile, msg) {
  const out = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line);
      if (j.msg === msg) out.push(j);
    } catch {
      // not a log line
    }
  }
  return out;
}

/** One variant: `s.clients` clients for `s.durationS` seconds against a fresh gateway. */
async function runVariant(tmp, name, s, swapAfterSeconds, sleep = false) {
  const gw = await startGateway(tmp, name, s, swapAfterSeconds, sleep);
  try {
    const results = [];
    const endAt = Date.now() + s.durationS * 1000;
    const headers = { 'x-mock-tokens': String(s.stream.tokens), 'x-mock-token-delay-ms': String(s.stream.tokenDelayMs) };
    const body = (model) => JSON.stringify({ model, stream: true, max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
    const client = async (i) => {
      const model = MODELS[i % 2];
      while (Date.now() < endAt) {
        const t0 = Date.now();
        const r = await post(gw.url, '/v1/chat/completions', body(model), headers);
        const ok = r.status === 200 && r.body.includes('data: [DONE]') && !r.body.includes('"error"');
        results.push({ model, ok, ms: Date.now() - t0 });
      }
    };
    // Clients join over one stream's length, as in steady use rather than a synchronized burst.
    const streamMs = s.stream.tokens * s.stream.tokenDelayMs;
    await Promise.all(
      Array.from({ length: s.clients }, (_, i) => new Promise((r) => setTimeout(r, (i * streamMs) / s.clients)).then(() => client(i))),
    );
    const perModel = {};
    for (const id of MODELS) {
      const mine = results.filter((x) => x.model === id);
      const ms = mine.map((x) => x.ms).sort((a, b) => a - b);
      perModel[id] = {
        requests: mine.length,
        answered: mine.filter((x) => x.ok).length,
        failed: mine.filter((x) => !x.ok).length,
        p50Ms: percentile(ms, 50),
        p95Ms: percentile(ms, 95),
        starts: logged(gw.logFile, 'model ready').filter((l) => l.model === id).length,
        sleeps: logged(gw.logFile, 'model asleep').filter((l) => l.model === id).length,
        wakes: logged(gw.logFile, 'model awake').filter((l) => l.model === id).length,
      };
    }
    const all = results.map((x) => x.ms).sort((a, b) => a - b);
    return {
      swapAfterSeconds,
      sleep,
      requests: results.length,
      answered: results.filter((x) => x.ok).length,
      starts: logged(gw.logFile, 'model ready').length,
      yields: logged(gw.logFile, 'model yields its GPU memory').length,
      sleeps: logged(gw.logFile, 'model asleep').length,
      wakes: logged(gw.logFile, 'model awake').length,
      wakeMs: percentile(
        logged(gw.logFile, 'model awake')
          .map((l) => l.ms)
          .sort((a, b) => a - b),
        50,
      ),
      p50Ms: percentile(all, 50),
      p95Ms: percentile(all, 95),
      perModel,
    };
  } finally {
    await stop(gw.child, 15_000);
  }
}

/** Runs both variants (turn-taking, then swapAfterSeconds 0) and the ratios between them. */
export async function runSwapScenario({ tmp, quick = false, log = console.log }) {
  const s = swapSettings(quick);
  log(
    `swap: ${s.clients} clients alternating between 2 models × 14 GiB on 24 GiB, ${s.durationS} s, start delay ${s.startDelayMs} ms, swapAfterSeconds ${s.swapAfterSeconds} vs 0`,
  );
  const turns = await runVariant(tmp, 'turns', s, s.swapAfterSeconds);
  const never = await runVariant(tmp, 'never', s, 0);
  log(`swap: the same with sleep.level 1, wake delay ${s.wakeDelayMs} ms (start ${s.startDelayMs} ms)`);
  const sleep = await runVariant(tmp, 'sleep', s, s.swapAfterSeconds, true);
  const ratio = (a, b) => (a == null || b == null || b === 0 ? null : a / b);
  const ratios = {
    p50: ratio(turns.p50Ms, never.p50Ms),
    p95: ratio(turns.p95Ms, never.p95Ms),
    answered: ratio(turns.answered, never.answered),
    perModel: Object.fromEntries(
      MODELS.map((id) => [
        id,
        { p50: ratio(turns.perModel[id].p50Ms, never.perModel[id].p50Ms), p95: ratio(turns.perModel[id].p95Ms, never.perModel[id].p95Ms) },
      ]),
    ),
  };
  // With sleep against the same turn-taking without it.
  ratios.sleep = {
    p50: ratio(sleep.p50Ms, turns.p50Ms),
    p95: ratio(sleep.p95Ms, turns.p95Ms),
    answered: ratio(sleep.answered, turns.answered),
    perModel: Object.fromEntries(
      MODELS.map((id) => [
        id,
        { p50: ratio(sleep.perModel[id].p50Ms, turns.perModel[id].p50Ms), p95: ratio(sleep.perModel[id].p95Ms, turns.perModel[id].p95Ms) },
      ]),
    ),
  };
  return { settings: s, turns, never, sleep, ratios };
}

const f = (v) => (v == null ? '—' : Number.isInteger(v) ? String(v) : v.toFixed(2));

/**
 * Rows for a table of columns: scenario, metric, `refs` reference columns, gateway, `ratios` ratio
 * columns (run.mjs's). The ratio to swapAfterSeconds 0 is in the gateway cell, after "×".
 */
export function swapTableLines(r, refs = 0, ratios = 0) {
  const lines = [];
  const row = (metric, cell) => `| swap | ${metric} | ${'— | '.repeat(refs)}${cell} |${' — |'.repeat(ratios)}`;
  const k = r.settings.swapAfterSeconds;
  for (const id of MODELS) {
    const t = r.turns.perModel[id];
    const n = r.never.perModel[id];
    const q = r.ratios.perModel[id];
    lines.push(
      row(
        `${id} p50 / p95 latency (ms), swapAfterSeconds ${k} vs 0`,
        `${f(t.p50Ms)} / ${f(t.p95Ms)} vs ${f(n.p50Ms)} / ${f(n.p95Ms)} (×${f(q.p50)} / ×${f(q.p95)})`,
      ),
    );
    lines.push(
      row(
        `${id} answered / failed / starts, swapAfterSeconds ${k} vs 0`,
        `${t.answered} / ${t.failed} / ${t.starts} vs ${n.answered} / ${n.failed} / ${n.starts}`,
      ),
    );
  }
  lines.push(
    row(
      `all: answered, starts, yields, swapAfterSeconds ${k} vs 0`,
      `${r.turns.answered}, ${r.turns.starts}, ${r.turns.yields} vs ${r.never.answered}, ${r.never.starts}, ${r.never.yields} (answered ×${f(r.ratios.answered)})`,
    ),
  );
  if (r.sleep) {
    const z = r.ratios.sleep;
    for (const id of MODELS) {
      const w = r.sleep.perModel[id];
      const t = r.turns.perModel[id];
      lines.push(
        row(
          `${id} p50 / p95 latency (ms), with sleep vs without`,
          `${f(w.p50Ms)} / ${f(w.p95Ms)} vs ${f(t.p50Ms)} / ${f(t.p95Ms)} (×${f(z.perModel[id].p50)} / ×${f(z.perModel[id].p95)})`,
        ),
      );
      lines.push(row(`${id} answered / starts / sleeps / wakes, with sleep`, `${w.answered} / ${w.starts} / ${w.sleeps} / ${w.wakes}`));
    }
    lines.push(
      row(
        `all with sleep: answered, starts, sleeps, wakes (wake p50 ms) vs without: answered, starts`,
        `${r.sleep.answered}, ${r.sleep.starts}, ${r.sleep.sleeps}, ${r.sleep.wakes} (${f(r.sleep.wakeMs)}) vs ${r.turns.answered}, ${r.turns.starts} (answered ×${f(z.answered)})`,
      ),
    );
  }
  return lines;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vllm-gw-swap-'));
  try {
    const r = await runSwapScenario({ tmp, quick: process.env.BENCH_QUICK === '1' });
    console.log(['| scenario | metric | gateway |', '| --- | --- | --- |', ...swapTableLines(r)].join('\n'));
    console.log(JSON.stringify(r, null, 2));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
