#!/usr/bin/env node
// The `priority` scenario of `npm run bench` (docs/benchmarks.md): what a batch flood on the same
// model does to an interactive client (an IDE's completions). One mock model with a few slots
// (maxConcurrent); one interactive client sends short streams one after another, with a pause
// between them as a person types; in the same run three variants, each against a fresh gateway:
//   alone     the interactive client by itself
//   lanes     plus a flood of batch clients (X-Priority: batch) sending longer streams back to back
//   unmarked  the same flood without the header (every request interactive: no lanes, FIFO)
// and the interactive client's p50/p95 latency in each, with the ratios lanes/alone and
// unmarked/alone.
//
//   node test/bench/priority.mjs      this scenario alone (BENCH_QUICK=1: a few seconds)
//
// A request's latency is from sending it to its stream's end (queueing included).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, percentile, post, spawnLogged, stop, mockServeCommand } from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MOCK = path.join(ROOT, 'test/fixtures/mock-vllm.mjs');
const ADMIN = 'bench-admin-token-0123456789abcdefghijklmnopqrstuv';
const MODEL = 'prio';

/** The scenario's knobs; quick: a smoke run of a few seconds. */
export function prioritySettings(quick) {
  return {
    durationS: quick ? 3 : 20,
    maxConcurrent: 4,
    batchClients: quick ? 8 : 16,
    // An IDE's completion: a short stream, then the next keystroke's.
    interactive: { tokens: 5, tokenDelayMs: 20, pauseMs: 150 },
    // An eval's request: a longer stream, of 10 to 30 tokens (varied, so that the slots do not free
    // in lockstep as identical streams would make them).
    batch: { tokens: 20, spread: 10, tokenDelayMs: 50 },
  };
}

async function startGateway(tmp, name, s) {
  const port = await freePort();
  const config = {
    listen: { host: '127.0.0.1', port },
    auth: { adminToken: ADMIN },
    limits: { queueTimeoutSeconds: 120 },
    gpu: { probe: 'static', static: [{ name: 'Bench GPU', totalGiB: 24 }] },
    models: {
      [MODEL]: { runtime: 'process', command: mockServeCommand(MOCK), vramGiB: 8, maxConcurrent: s.maxConcurrent, maxQueue: 1000 },
    },
  };
  const cfgFile = path.join(tmp, `priority-${name}.yaml`);
  writeFileSync(cfgFile, JSON.stringify(config, null, 2));
  const { child } = await spawnLogged(
    process.execPath,
    [path.join(ROOT, 'gateway/bin.mjs'), 'serve', '--config', cfgFile],
    path.join(tmp, `priority-${name}.log`),
    /listening on (http:\/\/\S+)/,
    { cwd: ROOT },
  );
  return { child, url: `http://127.0.0.1:${port}` };
}

const body = JSON.stringify({ model: MODEL, stream: true, max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One variant: the interactive client (and, unless `flood` is null, the batch clients) for durationS. */
async function runVariant(tmp, name, s, flood) {
  const gw = await startGateway(tmp, name, s);
  try {
    // Start the model first: the figures are about the queue, not a cold start.
    await post(gw.url, '/v1/chat/completions', body, { 'x-mock-tokens': '1' });
    const endAt = Date.now() + s.durationS * 1000;
    const iHeaders = { 'x-mock-tokens': String(s.interactive.tokens), 'x-mock-token-delay-ms': String(s.interactive.tokenDelayMs) };
    // A fixed seed: every variant sees the same sequence of batch lengths.
    let seed = 42;
    const nextTokens = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return s.batch.tokens - s.batch.spread + (seed % (2 * s.batch.spread + 1));
    };
    const bHeaders = () => ({ 'x-mock-tokens': String(nextTokens()), 'x-mock-token-delay-ms': String(s.batch.tokenDelayMs), ...flood });
    const interactive = [];
    let batchAnswered = 0;
    let failed = 0;
    const ok = (r) => r.status === 200 && r.body.includes('data: [DONE]');
    const batchClient = async (i) => {
      // Clients join over one stream's length, as a harness ramping up rather than a synchronized burst.
      await sleep((i * s.batch.tokens * s.batch.tokenDelayMs) / s.batchClients);
      while (Date.now() < endAt) {
        const r = await post(gw.url, '/v1/chat/completions', body, bHeaders());
        if (ok(r)) batchAnswered++;
        else failed++;
      }
    };
    const interactiveClient = async () => {
      await sleep(s.batch.tokens * s.batch.tokenDelayMs); // once the flood fills the slots and the queue
      while (Date.now() < endAt) {
        const t0 = Date.now();
        const r = await post(gw.url, '/v1/chat/completions', body, iHeaders);
        if (ok(r)) interactive.push(Date.now() - t0);
        else failed++;
        await sleep(s.interactive.pauseMs);
      }
    };
    await Promise.all([interactiveClient(), ...(flood ? Array.from({ length: s.batchClients }, (_, i) => batchClient(i)) : [])]);
    const ms = interactive.sort((a, b) => a - b);
    return { interactive: ms.length, p50Ms: percentile(ms, 50), p95Ms: percentile(ms, 95), batchAnswered, failed };
  } finally {
    await stop(gw.child, 15_000);
  }
}

export async function runPriorityScenario({ tmp, quick = false, log = console.log }) {
  const s = prioritySettings(quick);
  log(
    `priority: 1 interactive client (${s.interactive.tokens} tokens × ${s.interactive.tokenDelayMs} ms) alone, then with ${s.batchClients} batch clients (${s.batch.tokens}±${s.batch.spread} × ${s.batch.tokenDelayMs} ms) marked batch and unmarked; maxConcurrent ${s.maxConcurrent}, ${s.durationS} s each`,
  );
  const alone = await runVariant(tmp, 'alone', s, null);
  const lanes = await runVariant(tmp, 'lanes', s, { 'x-priority': 'batch' });
  const unmarked = await runVariant(tmp, 'unmarked', s, {});
  const ratio = (a, b) => (a == null || b == null || b === 0 ? null : a / b);
  return {
    settings: s,
    alone,
    lanes,
    unmarked,
    ratios: {
      lanesP50: ratio(lanes.p50Ms, alone.p50Ms),
      lanesP95: ratio(lanes.p95Ms, alone.p95Ms),
      unmarkedP50: ratio(unmarked.p50Ms, alone.p50Ms),
      unmarkedP95: ratio(unmarked.p95Ms, alone.p95Ms),
    },
  };
}

const f = (v) => (v == null ? '—' : Number.isInteger(v) ? String(v) : v.toFixed(2));

/** Rows for run.mjs's table (scenario, metric, `refs` reference columns, gateway, `ratios` ratio columns). */
export function priorityTableLines(r, refs = 0, ratios = 0) {
  const row = (metric, cell) => `| priority | ${metric} | ${'— | '.repeat(refs)}${cell} |${' — |'.repeat(ratios)}`;
  const q = r.ratios;
  return [
    row(
      'interactive p50 / p95 (ms): alone; with a batch flood marked batch (×alone)',
      `${f(r.alone.p50Ms)} / ${f(r.alone.p95Ms)}; ${f(r.lanes.p50Ms)} / ${f(r.lanes.p95Ms)} (×${f(q.lanesP50)} / ×${f(q.lanesP95)})`,
    ),
    row(
      'interactive p50 / p95 (ms) with the flood unmarked (×alone)',
      `${f(r.unmarked.p50Ms)} / ${f(r.unmarked.p95Ms)} (×${f(q.unmarkedP50)} / ×${f(q.unmarkedP95)})`,
    ),
    row(
      'interactive answered / batch answered / failed: alone; marked; unmarked',
      `${r.alone.interactive} / — / ${r.alone.failed}; ${r.lanes.interactive} / ${r.lanes.batchAnswered} / ${r.lanes.failed}; ${r.unmarked.interactive} / ${r.unmarked.batchAnswered} / ${r.unmarked.failed}`,
    ),
  ];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vllm-gw-priority-'));
  try {
    const r = await runPriorityScenario({ tmp, quick: process.env.BENCH_QUICK === '1' });
    console.log(['| scenario | metric | gateway |', '| --- | --- | --- |', ...priorityTableLines(r)].join('\n'));
    console.log(JSON.stringify(r, null, 2));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
