#!/usr/bin/env node
// `npm run bench` (docs/benchmarks.md): the gateway against direct connections to the upstream and
// against three reference proxies, all on 127.0.0.1, in alternation (direct, nginx, floor, go,
// gateway in every round), after a warm-up; medians over rounds, and ratios.
//   nginx    the system's nginx, 1 worker: what a proxy in C costs
//   floor    test/bench/floor-proxy.mjs: a minimal Fastify route forwarding with undici's dispatch,
//            the cheapest the gateway's own stack allows
//   go       test/bench/go-reverse-proxy/: Go's httputil.ReverseProxy as llama-swap uses it (the
//            peer-class reference), built with Debian's golang-go
//
//   BENCH_QUICK=1    a few seconds in all (smoke test); skips nginx and go when they are not installed
//   BENCH_ROUNDS=N   rounds (default 5; quick 1)     BENCH_DURATION_S=S  seconds per load run (default 3)
//   BENCH_OUT=FILE   where to write the results (default ./bench-results.json)
//   BENCH_NO_NGINX=1, BENCH_NO_GO=1, BENCH_NO_FLOOR=1   leave that reference out
//   BENCH_ONLY=nonstream|streams  only those scenarios (profiling; no lifecycle)
//   BENCH_GATEWAY_BIN=PATH        another build's gateway/bin.mjs (before/after comparisons)
//   BENCH_GATEWAY_NODE_ARGS="..."  node flags for the gateway, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
//                                  (then: node test/bench/profile-top.mjs /tmp/p/*.cpuprofile)
//
// The gateway runs as shipped (`node gateway/bin.mjs serve`, default log level) with its stdout,
// one JSON log line per request, written to a file in the run's temporary folder.
// SIGTERM or SIGINT stops every process the bench started before it exits (and, where util-linux's
// setpriv exists, children also get SIGTERM if the bench itself is killed).
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run as engineFigures } from './engine-scrape.mjs';
import { priorityTableLines, runPriorityScenario } from './priority.mjs';
import { runSwapScenario, swapTableLines } from './swap.mjs';
import {
  chatBody,
  childPids,
  cpuMsAll,
  freePort,
  getJson,
  median,
  post,
  rssMiB,
  runStreams,
  sleep,
  spawnLogged,
  spawnTracked,
  stop,
  stopAll,
  mockServeCommand,
} from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MOCK = path.join(ROOT, 'test/fixtures/mock-vllm.mjs');
const FLOOR = path.join(ROOT, 'test/bench/floor-proxy.mjs');
const GO_SRC = path.join(ROOT, 'test/bench/go-reverse-proxy');
const ONLY = process.env.BENCH_ONLY ?? '';
const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 5));
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? (QUICK ? 0.25 : 3));
const OUT = path.resolve(process.env.BENCH_OUT ?? path.join(ROOT, 'bench-results.json'));
const MODEL = 'bench-remote';
// A stream: 20 tokens 50 ms apart (1 s; 20 tokens/s, a loaded vLLM's pace), held for STREAM_WINDOW_MS
// after a ramp of one stream length.
const STREAM = QUICK ? { tokens: 4, tokenDelayMs: 25 } : { tokens: 20, tokenDelayMs: 50 };
// The quick run counts every stream (one per worker, no window): on a busy machine a short window
// can end before any stream after the ramp finishes.
const STREAM_WINDOW_MS = QUICK ? 0 : 2000;
const NONSTREAM_C = [1, 16, 128];
const STREAM_N = [1, 64, 512];
const BODY_BYTES = 1024 * 1024;
const BODY_C = 8;
const LIFECYCLE_ROUNDS = QUICK ? 1 : 5;
const START_DELAY_MS = 300;
const HEALTH_DELAY_MS = 200;
const ADMIN = 'bench-admin-token-0123456789abcdefghijklmnopqrstuv';

const log = (...a) => console.log(...a);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vllm-gw-bench-'));
chmodSync(tmp, 0o755);
const cleanup = [];

// ------------------------------------------------------------------------------------ set-up

function ensureBuilt() {
  if (existsSync(path.join(ROOT, 'dist/gateway/cli.js'))) return;
  log('dist/ is missing: building the gateway (npx tsc -p tsconfig.json)');
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
}

function nginxBinary() {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx']) if (existsSync(p)) return p;
  const w = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  return w.status === 0 ? w.stdout.trim() : null;
}

/** apt-get install a Debian package (as root, or with sudo -n), updating the lists once if needed. */
function aptInstall(pkg) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const run = (args) => {
    const cmd = [...sudo, ...args];
    log(`${pkg}: not installed; running: ${cmd.join(' ')}`);
    return spawnSync(cmd[0], cmd.slice(1), { stdio: 'inherit', env }).status === 0;
  };
  if (!run(['apt-get', 'install', '-y', '--no-install-recommends', pkg])) {
    run(['apt-get', 'update']);
    run(['apt-get', 'install', '-y', '--no-install-recommends', pkg]);
  }
}

function ensureNginx() {
  if (process.env.BENCH_NO_NGINX === '1') {
    log('nginx: left out (BENCH_NO_NGINX=1)');
    return null;
  }
  let bin = nginxBinary();
  if (bin) return bin;
  if (QUICK) {
    log('nginx: not installed; the quick run skips the nginx column (the full `npm run bench` installs it)');
    return null;
  }
  aptInstall('nginx');
  bin = nginxBinary();
  if (!bin) throw new Error('nginx could not be installed (apt-get install -y nginx failed); set BENCH_NO_NGINX=1 to run without it');
  return bin;
}

function goBinary() {
  for (const p of ['/usr/bin/go', '/usr/lib/go/bin/go', '/usr/local/go/bin/go']) if (existsSync(p)) return p;
  const w = spawnSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' });
  return w.status === 0 ? w.stdout.trim() : null;
}

/**
 * The Go reference, built once per source version into the system's temporary folder (a build
 * takes tens of seconds on a small machine; later runs reuse it). Installs golang-go when missing.
 */
function ensureGoProxy() {
  if (process.env.BENCH_NO_GO === '1') {
    log('go: left out (BENCH_NO_GO=1)');
    return null;
  }
  let go = goBinary();
  if (!go && QUICK) {
    log('go: not installed; the quick run skips the go column (the full `npm run bench` installs golang-go)');
    return null;
  }
  if (!go) {
    aptInstall('golang-go');
    go = goBinary();
    if (!go) throw new Error('golang-go could not be installed (apt-get install -y golang-go failed); set BENCH_NO_GO=1 to run without it');
  }
  const version = spawnSync(go, ['version'], { encoding: 'utf8' }).stdout.trim();
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'main.go']) hash.update(readFileSync(path.join(GO_SRC, f)));
  hash.update(version);
  const bin = path.join(os.tmpdir(), `vllm-gateway-bench-go-reverse-proxy-${hash.digest('hex').slice(0, 16)}`);
  if (!existsSync(bin)) {
    log(`go: building test/bench/go-reverse-proxy with ${version}`);
    const out = path.join(tmp, 'go-reverse-proxy');
    const env = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', CGO_ENABLED: '0' };
    env.GOCACHE ??= path.join(os.tmpdir(), 'vllm-gateway-bench-gocache');
    env.GOPATH ??= path.join(os.tmpdir(), 'vllm-gateway-bench-gopath');
    const r = spawnSync(go, ['build', '-o', out, '.'], { cwd: GO_SRC, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`go build failed:\n${r.stderr}`);
    copyFileSync(out, `${bin}.part`);
    chmodSync(`${bin}.part`, 0o755);
    execFileSync('mv', [`${bin}.part`, bin]);
  }
  return { bin, version };
}

async function startMock() {
  // Output to a file: a pipe left unread while a load run blocks the harness could stall the mock.
  const { child, match } = await spawnLogged(
    process.execPath,
    [MOCK, '--host', '127.0.0.1', '--port', '0', '--served-model-name', MODEL],
    path.join(tmp, 'mock.log'),
    /Uvicorn running on http:\/\/127\.0\.0\.1:(\d+)/,
  );
  cleanup.push(() => stop(child));
  return { child, url: `http://127.0.0.1:${match[1]}` };
}

async function startNginx(bin, upstreamPort) {
  const dir = path.join(tmp, 'nginx');
  mkdirSync(dir, { recursive: true });
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, d), { recursive: true, mode: 0o777 });
  const port = await freePort();
  // worker_processes 1: the gateway is one Node thread, so one nginx worker is the fair comparison
  // on this 2-core machine (where the load generator and the upstream need the other core too).
  const conf = `
worker_processes 1;
${process.getuid?.() === 0 ? 'user root;' : ''}
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  client_max_body_size 64m;
  upstream mock {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
`;
  const confFile = path.join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);
  const { child } = await spawnLogged(
    bin,
    ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', confFile],
    path.join(dir, 'stdout.log'),
    /^/,
    {},
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`${url}/health`);
      break;
    } catch {
      await sleep(25);
    }
  }
  cleanup.push(() => stop(child));
  const pids = () => [child.pid, ...childPids(child.pid)];
  return { child, url, pids };
}

async function startFloor(upstreamUrl) {
  const port = await freePort();
  const { child } = await spawnLogged(
    process.execPath,
    [FLOOR, String(port), upstreamUrl],
    path.join(tmp, 'floor.log'),
    /listening on (http:\/\/\S+)/,
    {
      cwd: ROOT,
    },
  );
  cleanup.push(() => stop(child));
  return { child, url: `http://127.0.0.1:${port}`, pids: () => [child.pid] };
}

async function startGo(bin, upstreamPort) {
  const port = await freePort();
  const { child } = await spawnLogged(bin, [String(port), String(upstreamPort)], path.join(tmp, 'go.log'), /listening on (http:\/\/\S+)/, {
    // Go's default (all cores), as llama-swap runs; BENCH_GOMAXPROCS=1 gives it one thread like
    // the gateway's one JavaScript thread and nginx's one worker.
    env: process.env.BENCH_GOMAXPROCS ? { ...process.env, GOMAXPROCS: process.env.BENCH_GOMAXPROCS } : process.env,
  });
  cleanup.push(() => stop(child));
  return { child, url: `http://127.0.0.1:${port}`, pids: () => [child.pid] };
}

async function startGateway(upstreamUrl) {
  const port = await freePort();
  const proc = (vram) => ({
    runtime: 'process',
    command: mockServeCommand(MOCK, ['--mock-start-delay-ms', String(START_DELAY_MS), '--mock-health-delay-ms', String(HEALTH_DELAY_MS)]),
    vramGiB: vram,
    ttlSeconds: 0,
  });
  const config = {
    listen: { host: '127.0.0.1', port },
    auth: { adminToken: ADMIN },
    limits: { maxConcurrentPerModel: 2048, maxQueuePerModel: 2048 },
    gpu: { probe: 'static', static: [{ name: 'Bench GPU', totalGiB: 24 }] },
    models: {
      [MODEL]: { runtime: 'remote', url: upstreamUrl },
      'bench-proc-a': proc(16),
      'bench-proc-b': proc(16),
    },
  };
  const cfgFile = path.join(tmp, 'gateway.yaml');
  writeFileSync(cfgFile, JSON.stringify(config, null, 2));
  const env = { ...process.env };
  delete env.LOG_LEVEL; // measure the default level, as shipped
  const logFile = path.join(tmp, 'gateway.log');
  const extra = process.env.BENCH_GATEWAY_NODE_ARGS ? process.env.BENCH_GATEWAY_NODE_ARGS.split(' ') : [];
  const { child } = await spawnLogged(
    process.execPath,
    [
      ...extra,
      path.resolve(process.env.BENCH_GATEWAY_BIN ?? path.join(ROOT, 'gateway/bin.mjs')),
      'serve',
      '--config',
      cfgFile,
      '--port',
      String(port),
    ],
    logFile,
    /listening on (http:\/\/\S+)/,
    { env, cwd: ROOT },
  );
  cleanup.push(() => stop(child, 15_000));
  return { child, url: `http://127.0.0.1:${port}`, pids: () => [child.pid], logFile };
}

// ------------------------------------------------------------------------------------ runs

function load(url, connections, durationS, extra = {}) {
  const args = JSON.stringify({
    url: `${url}/v1/chat/completions`,
    connections,
    durationS,
    model: MODEL,
    body: chatBody(MODEL, false),
    headers: {},
    ...extra,
  });
  // Asynchronous, so a signal that stops the bench is handled at once, not after the run.
  return new Promise((resolve, reject) => {
    const child = spawnTracked(process.execPath, [path.join(ROOT, 'test/bench/load-worker.mjs'), args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`load worker failed (${code ?? signal}): ${err}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

/** An autocannon run with the proxy's CPU time read from /proc before and after. */
async function loadWithCpu(target, connections, extra) {
  const pids = target.pids ? target.pids() : [];
  const before = cpuMsAll(pids);
  const r = await load(target.url, connections, DURATION_S, extra);
  const cpu = cpuMsAll(pids) - before;
  r.cpuUsPerRequest = pids.length && r.requests ? (cpu * 1000) / r.requests : null;
  if (r.non2xx || r.errors) log(`  warning: ${target.name} c=${connections}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r;
}

async function streams(target, n) {
  let peak = 0;
  const pids = target.pids ? target.pids() : [];
  // Warm-up of the same shape, so every target starts with its upstream connections open.
  if (!QUICK) await runStreams({ url: target.url, n, model: MODEL, tokens: 1, tokenDelayMs: 0 });
  const r = await runStreams({
    url: target.url,
    n,
    model: MODEL,
    ...STREAM,
    windowMs: STREAM_WINDOW_MS,
    onTick: pids.length ? () => (peak = Math.max(peak, rssMiB(pids))) : undefined,
  });
  r.rssPeakMiB = pids.length ? peak : null;
  if (r.failed) log(`  warning: ${target.name} ${n} streams: ${r.failed} failed`);
  return r;
}

// ------------------------------------------------------------------------------------ lifecycle

async function statusOf(gw, id) {
  const doc = await getJson(`${gw.url}/gateway/status`);
  return doc.models.find((m) => m.id === id);
}

async function unload(gw, id) {
  const r = await post(gw.url, `/gateway/models/${id}/unload?force=true`, '', { authorization: `Bearer ${ADMIN}` });
  if (r.status !== 200) throw new Error(`unload ${id}: ${r.status} ${r.body}`);
}

/** Time from the mock's health path answering 200 to the gateway's state ready and first byte. */
async function readiness(gw, id) {
  const t0 = Date.now();
  const r = await post(gw.url, '/v1/chat/completions', chatBody(id, false));
  if (r.status !== 200) throw new Error(`${id}: ${r.status} ${r.body}`);
  const st = await statusOf(gw, id);
  const stats = await getJson(`${st.endpoint}/mock/stats`);
  const healthAt = stats.listeningAt + HEALTH_DELAY_MS; // the mock answers /health 200 from here
  return {
    coldStartMs: r.firstByteAt - t0,
    readyStateLagMs: Date.parse(st.stateSince) - healthAt,
    firstByteLagMs: r.firstByteAt - healthAt,
    serverBootMs: healthAt - stats.startedAt,
  };
}

async function lifecycle(gw) {
  const ready = [];
  const evict = [];
  for (let i = 0; i < LIFECYCLE_ROUNDS; i++) {
    await unload(gw, 'bench-proc-a');
    await unload(gw, 'bench-proc-b');
    ready.push(await readiness(gw, 'bench-proc-a'));
    // b needs 16 GiB of the 24: a (idle, ready) is evicted, then b starts. A model counts as idle
    // 0.5 s after its last request (docs/configuration.md); wait that out so this measures evict + start.
    await sleep(600);
    const t0 = Date.now();
    const r = await readiness(gw, 'bench-proc-b');
    const a = await statusOf(gw, 'bench-proc-a');
    if (a.state !== 'stopped') throw new Error(`bench-proc-a was not evicted (state ${a.state})`);
    evict.push({
      evictAndStartMs: r.coldStartMs,
      serverBootMs: r.serverBootMs,
      gatewayMs: r.coldStartMs - r.serverBootMs,
      firstByteLagMs: r.firstByteLagMs,
      t0,
    });
  }
  const m = (xs, k) => median(xs.map((x) => x[k]));
  return {
    readiness: {
      rounds: ready,
      firstByteLagMs: m(ready, 'firstByteLagMs'),
      readyStateLagMs: m(ready, 'readyStateLagMs'),
      coldStartMs: m(ready, 'coldStartMs'),
      serverBootMs: m(ready, 'serverBootMs'),
    },
    eviction: {
      rounds: evict.map(({ t0: _t0, ...x }) => x),
      evictAndStartMs: m(evict, 'evictAndStartMs'),
      serverBootMs: m(evict, 'serverBootMs'),
      gatewayMs: m(evict, 'gatewayMs'),
      firstByteLagMs: m(evict, 'firstByteLagMs'),
    },
  };
}

// ------------------------------------------------------------------------------------ main

async function main() {
  const t0 = Date.now();
  ensureBuilt();
  const nginxBin = ensureNginx();
  const nginxVersion = nginxBin ? spawnSync(nginxBin, ['-v'], { encoding: 'utf8' }).stderr.trim() : null;
  const goProxy = ensureGoProxy();
  const withFloor = process.env.BENCH_NO_FLOOR !== '1';
  if (!withFloor) log('floor: left out (BENCH_NO_FLOOR=1)');
  const mock = await startMock();
  const upstreamPort = Number(new URL(mock.url).port);
  const targets = [{ name: 'direct', url: mock.url, pids: null }];
  if (nginxBin) targets.push({ name: 'nginx', ...(await startNginx(nginxBin, upstreamPort)) });
  if (withFloor) targets.push({ name: 'floor', ...(await startFloor(mock.url)) });
  if (goProxy) targets.push({ name: 'go', ...(await startGo(goProxy.bin, upstreamPort)) });
  const gw = await startGateway(mock.url);
  targets.push({ name: 'gateway', ...gw });
  const rssIdleFreshMiB = rssMiB(gw.pids());
  log(`tmp: ${tmp}  (gateway log: ${gw.logFile})`);
  log(
    `targets: ${targets.map((t) => `${t.name} ${t.url}`).join(', ')}; rounds ${ROUNDS}, ${DURATION_S} s per load run${QUICK ? ' (BENCH_QUICK)' : ''}`,
  );

  // Sanity: every target answers a chat completion.
  for (const t of targets) {
    const r = await post(t.url, '/v1/chat/completions', chatBody(MODEL, false));
    if (r.status !== 200 || !r.body.includes('chat.completion')) throw new Error(`${t.name} answered ${r.status}: ${r.body.slice(0, 300)}`);
  }

  // Warm-up: JIT, connection pools.
  // Warm-up: JIT, connection pools (the quick run, a smoke test of the harness, goes without).
  if (!QUICK) {
    log('warm-up');
    for (const t of targets) await load(t.url, 16, 2);
  }

  /** raw[scenario][target] = [per-round results] */
  const raw = {};
  const add = (scenario, target, r) => ((raw[scenario] ??= {})[target] ??= []).push(r);
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}/${ROUNDS}`);
    if (ONLY !== 'streams') {
      for (const c of NONSTREAM_C) for (const t of targets) add(`nonstream_c${c}`, t.name, await loadWithCpu(t, c));
      for (const t of targets) add('body_1mib', t.name, await loadWithCpu(t, BODY_C, { body: null, bodyBytes: BODY_BYTES }));
    }
    if (ONLY !== 'nonstream') for (const n of STREAM_N) for (const t of targets) add(`stream_${n}`, t.name, await streams(t, n));
  }
  await sleep(500);
  const rssIdleAfterLoadMiB = rssMiB(gw.pids());
  const rssOthersAfterLoadMiB = Object.fromEntries(targets.filter((t) => t.pids).map((t) => [t.name, rssMiB(t.pids())]));
  let life = null;
  let swap = null;
  let priority = null;
  if (!ONLY) {
    log('readiness and eviction (process models, static GPU probe)');
    life = await lifecycle(gw);
    swap = await runSwapScenario({ tmp, quick: QUICK, log });
    priority = await runPriorityScenario({ tmp, quick: QUICK, log });
  }
  const engine = ONLY ? null : await engineFigures({ quick: QUICK, log });

  // ---------------------------------------------------------------- medians, ratios, table
  const med = {};
  for (const [s, byTarget] of Object.entries(raw)) {
    med[s] = {};
    for (const [t, runs] of Object.entries(byTarget)) {
      med[s][t] = {};
      for (const k of Object.keys(runs[0]))
        if (typeof runs[0][k] === 'number' || runs[0][k] === null) med[s][t][k] = median(runs.map((r) => r[k]));
    }
  }
  const rows = [];
  const row = (scenario, metric, unit, pick, better) => {
    const v = (t) => (med[scenario]?.[t] ? pick(med[scenario][t], t) : null);
    const d = v('direct');
    const n = v('nginx');
    const f = v('floor');
    const o = v('go');
    const g = v('gateway');
    const ratio = (ref) => (ref && g != null ? g / ref : null);
    rows.push({
      scenario,
      metric,
      unit,
      better,
      direct: d,
      nginx: n,
      floor: f,
      go: o,
      gateway: g,
      gatewayOverDirect: ratio(d),
      gatewayOverNginx: ratio(n),
      gatewayOverFloor: ratio(f),
      gatewayOverGo: ratio(o),
    });
  };
  const added = (s, k) => (m, t) => (t === 'direct' ? 0 : m[k] - med[s].direct[k]);
  for (const c of NONSTREAM_C) {
    const s = `nonstream_c${c}`;
    row(s, 'requests/s', 'req/s', (m) => m.rps, 'higher');
    row(s, 'p50 latency', 'ms', (m) => m.p50, 'lower');
    row(s, 'p99 latency', 'ms', (m) => m.p99, 'lower');
    row(s, 'added p50 (vs direct)', 'ms', added(s, 'p50'), 'lower');
    row(s, 'proxy CPU per request', 'µs', (m) => m.cpuUsPerRequest, 'lower');
  }
  row('body_1mib', 'requests/s', 'req/s', (m) => m.rps, 'higher');
  row('body_1mib', 'p50 latency', 'ms', (m) => m.p50, 'lower');
  row('body_1mib', 'p99 latency', 'ms', (m) => m.p99, 'lower');
  row('body_1mib', 'proxy CPU per request', 'µs', (m) => m.cpuUsPerRequest, 'lower');
  for (const n of STREAM_N) {
    const s = `stream_${n}`;
    row(s, 'first chunk p50', 'ms', (m) => m.ttfcP50, 'lower');
    row(s, 'first chunk p99', 'ms', (m) => m.ttfcP99, 'lower');
    row(s, 'added first chunk p50', 'ms', added(s, 'ttfcP50'), 'lower');
    row(s, 'gap between chunks p99', 'ms', (m) => m.gapP99, 'lower');
    row(s, 'whole stream p50', 'ms', (m) => m.totalP50, 'lower');
    row(s, 'proxy RSS peak', 'MiB', (m) => m.rssPeakMiB, 'lower');
  }
  const rows_ = rows.filter((r) => med[r.scenario]);
  const at = (t, s, k) => med[s]?.[t]?.[k] ?? null;
  const g = (s, k) => at('gateway', s, k);
  const times = (x, f) => (x == null ? null : x * f);
  const addedP50 = (t, s) => (at(t, s, 'p50') == null || at('direct', s, 'p50') == null ? null : at(t, s, 'p50') - at('direct', s, 'p50'));
  const rss512 = g('stream_512', 'rssPeakMiB');
  // [name, gateway's value, limit, unit, at least (else at most)]
  const targetsCheck = [
    // issue 13: the stack's floor and the peer-class (Go) reference
    [
      'CPU per request (c=16) ≤ 1.25× floor',
      g('nonstream_c16', 'cpuUsPerRequest'),
      times(at('floor', 'nonstream_c16', 'cpuUsPerRequest'), 1.25),
      'µs',
    ],
    [
      'CPU per request (c=128) ≤ 1.25× floor',
      g('nonstream_c128', 'cpuUsPerRequest'),
      times(at('floor', 'nonstream_c128', 'cpuUsPerRequest'), 1.25),
      'µs',
    ],
    [
      'CPU per request (c=16) ≤ 0.8× go',
      g('nonstream_c16', 'cpuUsPerRequest'),
      times(at('go', 'nonstream_c16', 'cpuUsPerRequest'), 0.8),
      'µs',
    ],
    [
      'CPU per request (c=128) ≤ 0.8× go',
      g('nonstream_c128', 'cpuUsPerRequest'),
      times(at('go', 'nonstream_c128', 'cpuUsPerRequest'), 0.8),
      'µs',
    ],
    ['throughput c=16 ≥ 1.2× go', g('nonstream_c16', 'rps'), times(at('go', 'nonstream_c16', 'rps'), 1.2), 'req/s', true],
    ['throughput c=128 ≥ 1.2× go', g('nonstream_c128', 'rps'), times(at('go', 'nonstream_c128', 'rps'), 1.2), 'req/s', true],
    ['added p50 at c=16 ≤ go', addedP50('gateway', 'nonstream_c16'), addedP50('go', 'nonstream_c16'), 'ms'],
    [
      'first chunk at 64 streams ≤ direct + 0.5 ms',
      g('stream_64', 'ttfcP50'),
      times(at('direct', 'stream_64', 'ttfcP50'), 1) == null ? null : at('direct', 'stream_64', 'ttfcP50') + 0.5,
      'ms',
    ],
    ['first chunk p50 at 512 streams ≤ 2× nginx', g('stream_512', 'ttfcP50'), times(at('nginx', 'stream_512', 'ttfcP50'), 2), 'ms'],
    [
      'whole stream p50 at 512 streams ≤ 1.05× direct',
      g('stream_512', 'totalP50'),
      times(at('direct', 'stream_512', 'totalP50'), 1.05),
      'ms',
    ],
    ['RSS after the load phases ≤ 100 MiB', rssIdleAfterLoadMiB, 100, 'MiB'],
    ['RSS holding 512 streams ≤ 120 MiB', rss512, 120, 'MiB'],
    // issue 6: nginx as the reference
    ['added p50 at c=16 ≤ 2× nginx', addedP50('gateway', 'nonstream_c16'), times(addedP50('nginx', 'nonstream_c16'), 2), 'ms'],
    [
      'CPU per request (c=16) ≤ 2× nginx',
      g('nonstream_c16', 'cpuUsPerRequest'),
      times(at('nginx', 'nonstream_c16', 'cpuUsPerRequest'), 2),
      'µs',
    ],
    [
      'CPU per request (c=128) ≤ 2× nginx',
      g('nonstream_c128', 'cpuUsPerRequest'),
      times(at('nginx', 'nonstream_c128', 'cpuUsPerRequest'), 2),
      'µs',
    ],
    ['throughput c=16 ≥ 0.8× nginx', g('nonstream_c16', 'rps'), times(at('nginx', 'nonstream_c16', 'rps'), 0.8), 'req/s', true],
    ['throughput c=128 ≥ 0.8× nginx', g('nonstream_c128', 'rps'), times(at('nginx', 'nonstream_c128', 'rps'), 0.8), 'req/s', true],
    ['readiness seen ≤ 150 ms after health answers', life?.readiness.firstByteLagMs ?? null, 150, 'ms'],
  ].map(([name, value, limit, unit, atLeast]) => ({
    name,
    value,
    limit,
    unit,
    met: value == null || limit == null ? null : atLeast ? value >= limit : value <= limit,
  }));

  const fmt = (x) =>
    x == null || Number.isNaN(x) ? '—' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
  const fr = (x) => (x == null || !Number.isFinite(x) ? '—' : `${x.toFixed(2)}×`);
  const lines = [];
  lines.push('| scenario | metric | direct | nginx | floor | go | gateway | gw/direct | gw/nginx | gw/floor | gw/go |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows_) {
    const addedRow = r.metric.startsWith('added');
    lines.push(
      `| ${r.scenario} | ${r.metric} (${r.unit}) | ${fmt(r.direct)} | ${fmt(r.nginx)} | ${fmt(r.floor)} | ${fmt(r.go)} | ${fmt(r.gateway)} | ${addedRow ? '—' : fr(r.gatewayOverDirect)} | ${fr(r.gatewayOverNginx)} | ${fr(r.gatewayOverFloor)} | ${fr(r.gatewayOverGo)} |`,
    );
  }
  const others = Object.entries(rssOthersAfterLoadMiB)
    .filter(([t]) => t !== 'gateway')
    .map(([t, v]) => `${t} ${fmt(v)}`)
    .join(', ');
  lines.push(
    `| idle | gateway RSS (MiB) | — | — | — | — | ${fmt(rssIdleFreshMiB)} fresh, ${fmt(rssIdleAfterLoadMiB)} after load (${others}) | — | — | — | — |`,
  );
  if (life) {
    lines.push(
      `| readiness | health 200 → first proxied byte (ms) | — | — | — | — | ${fmt(life.readiness.firstByteLagMs)} | — | — | — | — |`,
    );
    lines.push(`| readiness | health 200 → state ready (ms) | — | — | — | — | ${fmt(life.readiness.readyStateLagMs)} | — | — | — | — |`);
    lines.push(
      `| readiness | cold start, request → first byte (ms; server boot ${fmt(life.readiness.serverBootMs)}) | — | — | — | — | ${fmt(life.readiness.coldStartMs)} | — | — | — | — |`,
    );
    lines.push(
      `| eviction | evict + start, request → first byte (ms; server boot ${fmt(life.eviction.serverBootMs)}) | — | — | — | — | ${fmt(life.eviction.evictAndStartMs)} | — | — | — | — |`,
    );
    lines.push(
      `| eviction | of which gateway (stop, placement, readiness) (ms) | — | — | — | — | ${fmt(life.eviction.gatewayMs)} | — | — | — | — |`,
    );
  }
  if (swap) lines.push(...swapTableLines(swap, 4, 4));
  if (priority) lines.push(...priorityTableLines(priority, 4, 4));
  const table = lines.join('\n');
  const checks = [
    '| target | gateway | limit | met |',
    '| --- | ---: | ---: | :---: |',
    ...targetsCheck.map(
      (t) => `| ${t.name} | ${fmt(t.value)} ${t.unit} | ${fmt(t.limit)} ${t.unit} | ${t.met == null ? 'n/a' : t.met ? 'yes' : 'NO'} |`,
    ),
  ].join('\n');

  const cpu = os.cpus();
  const results = {
    date: new Date().toISOString(),
    quick: QUICK,
    machine: {
      hostname: os.hostname(),
      platform: `${os.type()} ${os.release()} ${os.arch()}`,
      cpuModel: cpu[0]?.model ?? '',
      cpus: cpu.length,
      memTotalMiB: Math.round(os.totalmem() / 1048576),
    },
    node: process.version,
    nginx: nginxVersion,
    go: goProxy?.version ?? null,
    settings: {
      rounds: ROUNDS,
      durationS: DURATION_S,
      nonStreamConcurrency: NONSTREAM_C,
      streams: STREAM_N,
      stream: {
        ...STREAM,
        windowMs: STREAM_WINDOW_MS,
        note: 'n workers, each opening its next stream when one ends; starts staggered over one stream length; streams of the ramp not counted',
      },
      bodyBytes: BODY_BYTES,
      bodyConcurrency: BODY_C,
      nginxWorkers: 1,
      goMaxProcs: process.env.BENCH_GOMAXPROCS ?? 'default (all cores)',
      only: ONLY || null,
      gatewayLog: 'default level (info), stdout to a file',
      loadGenerator: 'autocannon (child process); exact percentiles from every response time',
    },
    skipped: [...(nginxBin ? [] : ['nginx']), ...(withFloor ? [] : ['floor']), ...(goProxy ? [] : ['go'])],
    rows,
    targets: targetsCheck,
    rss: {
      gatewayIdleFreshMiB: rssIdleFreshMiB,
      gatewayIdleAfterLoadMiB: rssIdleAfterLoadMiB,
      gatewayHolding512StreamsMiB: rss512,
      afterLoadMiB: rssOthersAfterLoadMiB,
    },
    readiness: life?.readiness ?? null,
    eviction: life?.eviction ?? null,
    swap,
    priority,
    engineFigures: engine,
    medians: med,
    raw,
    elapsedS: (Date.now() - t0) / 1000,
  };
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  log('');
  log(table);
  log('');
  log(checks);
  log('');
  log(
    `machine: ${results.machine.cpuModel}, ${results.machine.cpus} cores, ${results.machine.memTotalMiB} MiB; ${results.machine.platform}; node ${process.version}; ${nginxVersion ?? 'no nginx'}; ${goProxy?.version ?? 'no go'}`,
  );
  log(`wrote ${OUT} in ${results.elapsedS.toFixed(0)} s`);
}

let cleaningUp = null;
/** Stops what the bench started (in reverse order, then any child left), and removes its files. */
function cleanUp() {
  cleaningUp ??= (async () => {
    for (const f of cleanup.reverse()) await f().catch(() => {});
    await stopAll().catch(() => {});
    if (process.env.BENCH_KEEP_TMP !== '1') rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaningUp;
}

// A stopped bench (Ctrl-C, a test runner's timeout) leaves no gateway, mock, proxy or load worker.
for (const [sig, n] of [
  ['SIGINT', 2],
  ['SIGTERM', 15],
]) {
  process.on(sig, () => {
    log(`\n${sig}: stopping the bench's processes`);
    void cleanUp().finally(() => process.exit(128 + n));
  });
}

let code = 0;
try {
  await main();
} catch (err) {
  console.error(err);
  code = 1;
} finally {
  await cleanUp();
}
process.exit(code);
