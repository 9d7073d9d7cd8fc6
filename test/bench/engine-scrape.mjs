#!/usr/bin/env node
// What reading the engines costs (part of `npm run bench`, or alone: node test/bench/engine-scrape.mjs):
//
//   1. CPU per scrape: the gateway's EngineScraper (dist build) reading real mock vLLM servers'
//      /metrics over loopback (fetch, parse, rates), measured in this process with
//      process.cpuUsage() over many scrapes; as a share of one core at the default poll (1 s).
//   2. The gateway process itself, idle for a while with MODELS models scraped every second,
//      against the same gateway with scraping off (remote models without scrapeMetrics).
//   3. Reading `usage` from streamed responses (UsageTail): CPU per stream, against the gateway's
//      whole CPU per proxied stream measured in the same run.
//
// Exports run() for test/bench/run.mjs; prints its own lines and returns the figures.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuMs, freePort, sleep, spawnLogged, stop } from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MOCK = path.join(ROOT, 'test/fixtures/mock-vllm.mjs');
const MODELS = 4;

async function startMocks(tmp, n) {
  const mocks = [];
  for (let i = 0; i < n; i++) {
    const { child, match } = await spawnLogged(
      process.execPath,
      [MOCK, '--served-model-name', `m${i}`, '--host', '127.0.0.1', '--port', '0', '--mock-tokens', '200'],
      path.join(tmp, `mock-${i}.log`),
      /Uvicorn running on (http:\/\/\S+)/,
    );
    mocks.push({ child, url: match[1] });
  }
  return mocks;
}

async function startGateway(tmp, mocks, scrape, name) {
  const port = await freePort();
  const models = Object.fromEntries(mocks.map((m, i) => [`m${i}`, { runtime: 'remote', url: m.url, scrapeMetrics: scrape }]));
  const cfg = path.join(tmp, `${name}.yaml`);
  writeFileSync(
    cfg,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      auth: { adminToken: 'bench-engine-admin-token-0123456789' },
      gpu: { probe: 'static', static: [{ name: 'Bench GPU', totalGiB: 24 }] },
      models,
    }),
  );
  const env = { ...process.env };
  delete env.LOG_LEVEL;
  const { child } = await spawnLogged(
    process.execPath,
    [path.join(ROOT, 'gateway/bin.mjs'), 'serve', '--config', cfg],
    path.join(tmp, `${name}.log`),
    /listening on/,
    {
      env,
      cwd: ROOT,
    },
  );
  return { child, url: `http://127.0.0.1:${port}` };
}

/** 1: the scraper alone, in this process. */
async function cpuPerScrape(mocks, scrapes) {
  const { EngineScraper } = await import(pathToFileURL(path.join(ROOT, 'dist/gateway/engine/engine-scraper.js')).href);
  const targets = mocks.map((m, i) => ({ id: `m${i}`, state: 'ready', endpoint: m.url, scrape: true }));
  const s = new EngineScraper({ targets: () => targets, pollMs: 1000 });
  const round = () => s.tick();
  for (let i = 0; i < 20; i++) await round(); // warm-up: JIT, connections
  const bytes = (await (await fetch(`${mocks[0].url}/metrics`)).text()).length;
  const rounds = Math.ceil(scrapes / targets.length);
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  for (let i = 0; i < rounds; i++) await round();
  const cpu = process.cpuUsage(t0);
  const wallMs = performance.now() - w0;
  await s.stop();
  const usPerScrape = (cpu.user + cpu.system) / (rounds * targets.length);
  // A scrape past its timeout on a loaded machine leaves no figures: reported, not fatal.
  const figuresRead = s.engine('m0') !== null;
  return { scrapes: rounds * targets.length, pageBytes: bytes, usPerScrape, wallMsPerRound: wallMs / rounds, figuresRead };
}

/** 2: the gateway process idle, scraping MODELS models each second or not at all. */
async function idleGatewayCpu(tmp, mocks, seconds, settleMs, modes) {
  const out = { notScraping: null };
  for (const scrape of modes) {
    const gw = await startGateway(tmp, mocks, scrape, scrape ? 'gw-scrape' : 'gw-no-scrape');
    await sleep(settleMs); // start-up settles; first scrapes
    const c0 = cpuMs(gw.child.pid);
    await sleep(seconds * 1000);
    const used = cpuMs(gw.child.pid) - c0;
    const status = await (await fetch(`${gw.url}/gateway/status`)).json();
    const withFigures = status.models.filter((m) => m.engine).length;
    await stop(gw.child);
    out[scrape ? 'scraping' : 'notScraping'] = {
      cpuMs: used,
      percentOfCore: (used / (seconds * 1000)) * 100,
      modelsWithFigures: withFigures,
    };
  }
  return { seconds, models: mocks.length, ...out };
}

/** 3: UsageTail per stream vs the gateway's CPU per proxied stream (same streams, same run). */
async function usageCost(tmp, mocks, streams) {
  const { UsageTail } = await import(pathToFileURL(path.join(ROOT, 'dist/gateway/proxy/usage-tail.js')).href);
  const gw = await startGateway(tmp, mocks.slice(0, 1), false, 'gw-usage');
  const body = JSON.stringify({
    model: 'm0',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const one = async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const chunks = [];
    for await (const c of res.body) chunks.push(Buffer.from(c));
    return chunks;
  };
  for (let i = 0; i < 10; i++) await one();
  const c0 = cpuMs(gw.child.pid);
  let sample = null;
  for (let i = 0; i < streams; i += 8) {
    const got = await Promise.all(Array.from({ length: Math.min(8, streams - i) }, one));
    sample ??= got[0];
  }
  const gatewayUsPerStream = ((cpuMs(gw.child.pid) - c0) * 1000) / streams;
  await stop(gw.child);
  // The tail over the same bytes, cut in the mock's own event-sized chunks.
  const events = Buffer.concat(sample)
    .toString('utf8')
    .split(/(?<=\n\n)/)
    .map((e) => Buffer.from(e));
  const reps = 2000;
  let found = null;
  const t0 = process.cpuUsage();
  for (let r = 0; r < reps; r++) {
    const t = new UsageTail();
    for (const e of events) t.push(e);
    found = t.usage();
  }
  const cpu = process.cpuUsage(t0);
  if (!found || found.completionTokens !== 200) throw new Error(`usage not found in the stream: ${JSON.stringify(found)}`);
  const usagePerStreamUs = (cpu.user + cpu.system) / reps;
  return { streams, chunksPerStream: events.length, gatewayUsPerStream, usagePerStreamUs, ratio: usagePerStreamUs / gatewayUsPerStream };
}

export async function run({ quick = false, log = console.log } = {}) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vllm-gw-bench-engine-'));
  const mocks = await startMocks(tmp, MODELS);
  try {
    log('engine figures: CPU per scrape, idle gateway with and without scraping, usage reading');
    const scrape = await cpuPerScrape(mocks, quick ? 200 : 4000);
    // The quick run (the bench's smoke test) only checks the scraping gateway shows figures.
    const idle = await idleGatewayCpu(tmp, mocks, quick ? 1 : 20, quick ? 1500 : 3000, quick ? [true] : [false, true]);
    const usage = await usageCost(tmp, mocks, quick ? 16 : 200);
    const result = {
      scrape: { ...scrape, percentOfCoreAtDefaultPoll: (scrape.usPerScrape * MODELS) / 1e4 },
      idle,
      usage,
    };
    log(
      `  scrape: ${scrape.usPerScrape.toFixed(0)} µs CPU per scrape of a ${scrape.pageBytes}-byte page (${scrape.scrapes} scrapes); ` +
        `${MODELS} models at pollSeconds 1 = ${result.scrape.percentOfCoreAtDefaultPoll.toFixed(3)} % of one core`,
    );
    log(
      `  idle gateway, ${idle.seconds} s, ${MODELS} models: ${idle.notScraping ? idle.notScraping.cpuMs.toFixed(0) : '(not run)'} ms CPU without scraping, ` +
        `${idle.scraping.cpuMs.toFixed(0)} ms with (${idle.scraping.modelsWithFigures} models showing figures)`,
    );
    log(
      `  usage: ${usage.usagePerStreamUs.toFixed(1)} µs per stream of ${usage.chunksPerStream} chunks, against ${usage.gatewayUsPerStream.toFixed(0)} µs ` +
        `of gateway CPU per proxied stream (${(usage.ratio * 100).toFixed(2)} %)`,
    );
    return result;
  } finally {
    for (const m of mocks) await stop(m.child);
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await run({ quick: process.env.BENCH_QUICK === '1' });
  console.log(JSON.stringify(r, null, 2));
}
