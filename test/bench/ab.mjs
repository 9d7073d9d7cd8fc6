#!/usr/bin/env node
// Interleaved A/B runs of CPU time per request, for measuring one change to the data path on a
// busy machine (wall-clock figures move with the neighbours; the proxy's own CPU time per request,
// read from /proc, moves much less, and interleaving spreads the rest evenly over the variants).
//
//   node test/bench/ab.mjs [floor] [go] [GATEWAY_BIN ...]
//   AB_ROUNDS=7 AB_DURATION_S=3 AB_C=16,128 AB_NODE_ARGS="--cpu-prof ..." node test/bench/ab.mjs floor gateway/bin.mjs ../other/gateway/bin.mjs
//
// Each GATEWAY_BIN is a gateway/bin.mjs (this checkout's, or another build's) serving one `remote`
// model at the default log level, logs to a file. Prints, per concurrency, the median over rounds
// of CPU µs per request and requests/s for each target, and each target's ratio to the first.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chatBody, cpuMsAll, freePort, median, spawnLogged, spawnTracked, stopAll } from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ROUNDS = Number(process.env.AB_ROUNDS ?? 5);
const DURATION_S = Number(process.env.AB_DURATION_S ?? 3);
const CONC = (process.env.AB_C ?? '16').split(',').map(Number);
const MODEL = 'bench-remote';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vllm-gw-ab-'));
const names = process.argv.slice(2);
if (names.length === 0) names.push('floor', 'gateway/bin.mjs');

async function start(name, i, upstream) {
  const port = await freePort();
  const logFile = path.join(tmp, `${i}.log`);
  const re = /listening on (http:\/\/\S+)/;
  let child;
  const extra = process.env.AB_NODE_ARGS ? process.env.AB_NODE_ARGS.split(' ') : [];
  if (name === 'floor')
    ({ child } = await spawnLogged(
      process.execPath,
      [...extra, path.join(ROOT, 'test/bench/floor-proxy.mjs'), String(port), upstream],
      logFile,
      re,
    ));
  else if (name === 'go') {
    const bin = process.env.AB_GO_BIN;
    if (!bin) throw new Error('set AB_GO_BIN to a built go-reverse-proxy (npm run bench builds one in the temp folder)');
    ({ child } = await spawnLogged(bin, [String(port), new URL(upstream).port], logFile, re));
  } else {
    const cfg = path.join(tmp, `${i}.json`);
    writeFileSync(
      cfg,
      JSON.stringify({
        listen: { host: '127.0.0.1', port },
        auth: { adminToken: 'ab-admin-token-0123456789abcdefghijklmnopqrstuvwxyz' },
        limits: { maxConcurrentPerModel: 2048, maxQueuePerModel: 2048 },
        gpu: { probe: 'static', static: [{ name: 'AB GPU', totalGiB: 24 }] },
        models: { [MODEL]: { runtime: 'remote', url: upstream } },
      }),
    );
    const env = { ...process.env };
    delete env.LOG_LEVEL;
    ({ child } = await spawnLogged(
      process.execPath,
      [...extra, path.resolve(name), 'serve', '--config', cfg, '--port', String(port)],
      logFile,
      re,
      { env },
    ));
  }
  return { name: `${i}:${name}`, url: `http://127.0.0.1:${port}`, pid: child.pid };
}

function load(url, connections) {
  const args = JSON.stringify({
    url: `${url}/v1/chat/completions`,
    connections,
    durationS: DURATION_S,
    model: MODEL,
    body: chatBody(MODEL, false),
    headers: {},
  });
  return new Promise((resolve, reject) => {
    const c = spawnTracked(process.execPath, [path.join(ROOT, 'test/bench/load-worker.mjs'), args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    c.once('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`load worker ${code}`))));
  });
}

async function main() {
  const { match } = await spawnLogged(
    process.execPath,
    [path.join(ROOT, 'test/fixtures/mock-vllm.mjs'), '--host', '127.0.0.1', '--port', '0', '--served-model-name', MODEL],
    path.join(tmp, 'mock.log'),
    /Uvicorn running on http:\/\/127\.0\.0\.1:(\d+)/,
  );
  const upstream = `http://127.0.0.1:${match[1]}`;
  const targets = [];
  for (const [i, n] of names.entries()) targets.push(await start(n, i, upstream));
  const served = Object.fromEntries(targets.map((t) => [t.name, 0]));
  for (const t of targets) served[t.name] += (await load(t.url, 16)).requests; // warm-up
  const res = {};
  for (let r = 1; r <= ROUNDS; r++) {
    for (const c of CONC) {
      // Rotate the order each round so no variant always runs first.
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + r) % targets.length];
        const before = cpuMsAll([t.pid]);
        const x = await load(t.url, c);
        served[t.name] += x.requests;
        const us = ((cpuMsAll([t.pid]) - before) * 1000) / x.requests;
        ((res[c] ??= {})[t.name] ??= []).push({ us, rps: x.rps, p50: x.p50 });
      }
    }
    process.stderr.write(`round ${r}/${ROUNDS}\n`);
  }
  // For per-request profiles: node test/bench/profile-diff.mjs A.cpuprofile N_A B.cpuprofile N_B
  console.log(`requests served (warm-up included): ${targets.map((t) => `${t.name} ${served[t.name]} (pid ${t.pid})`).join(', ')}`);
  for (const c of CONC) {
    console.log(
      `\nc=${c}   (${ROUNDS} rounds; CPU µs/request: median, lowest quarter's top [q1] and min; ratios of the medians and of q1 to the first)`,
    );
    const q1 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 4)];
    const first = res[c][targets[0].name].map((x) => x.us);
    for (const t of targets) {
      const us = res[c][t.name].map((x) => x.us);
      const xs = res[c][t.name];
      console.log(
        `${t.name.padEnd(40)} ${median(us).toFixed(1).padStart(7)} µs  q1 ${q1(us).toFixed(1).padStart(6)}  min ${Math.min(...us)
          .toFixed(1)
          .padStart(6)}  ${median(xs.map((x) => x.rps))
          .toFixed(0)
          .padStart(6)} req/s  ×${(median(us) / median(first)).toFixed(2)} (q1 ×${(q1(us) / q1(first)).toFixed(2)})`,
      );
    }
  }
}

try {
  await main();
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
