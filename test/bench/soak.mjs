#!/usr/bin/env node
// `npm run soak`: the gateway under bounded mixed traffic for a few minutes, checking that memory,
// libuv handles, file descriptors and event listeners stay flat, then that SIGTERM ends it within
// shutdown.drainSeconds + 2 s with streams still open. Not part of `npm test` (it takes minutes).
//
//   SOAK_MINUTES=N   length of the traffic (default 3; the 10-minute mode: SOAK_MINUTES=10)
//   SOAK_OUT=FILE    results (default ./soak-results.json)
//
// Traffic, all at once, in cycles of CYCLE_S seconds (clients that never finish are cut at the
// cycle's end); between cycles the traffic pauses until the gateway is quiet, and the probe loaded
// into the gateway (soak-probe.mjs) is read after a forced GC:
//   plain       non-streaming chat completions
//   streams     streams read to the end
//   abortMid    streams the client drops after a random part of the answer (P6)
//   abortEarly  requests dropped before the answer starts
//   stalled     streams the client never reads (a full socket: the gateway must pause the upstream)
//   halfBody    requests that announce a body and send only part of it, then hang or go away
//   bad         invalid JSON, unknown models, empty bodies (4xx in the error shape)
//   races       two process models that do not fit together: requests to both, with load, unload
//               and (when the gateway has the route) sleep calls racing them
// Bounds (the baseline is the quiet sample after the first minute): RSS within 10 % of it at every
// later quiet sample; handles, fds and listeners no more than a small constant above it. No
// response may be a 500 internal_error, and the gateway must answer /health throughout.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, rssMiB, sleep, spawnLogged, stop, stopAll, mockServeCommand } from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MOCK = path.join(ROOT, 'test/fixtures/mock-vllm.mjs');
const PROBE = path.join(ROOT, 'test/bench/soak-probe.mjs');
const MINUTES = Number(process.env.SOAK_MINUTES ?? 3);
const OUT = path.resolve(process.env.SOAK_OUT ?? path.join(ROOT, 'soak-results.json'));
const CYCLE_S = 20;
const BASELINE_AFTER_S = 60;
const DRAIN_S = 3;
const RSS_BOUND = 0.1;
const SLACK = { handles: 4, fds: 4, listeners: 20 };
const ADMIN = 'soak-admin-token-0123456789abcdefghijklmnopqrstuvwx';
const REMOTE = 'soak-remote';

const log = (...a) => console.log(...a);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vllm-gw-soak-'));
chmodSync(tmp, 0o755);
const probeFile = path.join(tmp, 'probe.jsonl');
const rand = (a, b) => a + Math.floor(Math.random() * (b - a + 1));
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];

// ------------------------------------------------------------------------------------ set-up

async function startMock() {
  const { child, match } = await spawnLogged(
    process.execPath,
    [MOCK, '--host', '127.0.0.1', '--port', '0', '--served-model-name', REMOTE],
    path.join(tmp, 'mock.log'),
    /Uvicorn running on http:\/\/127\.0\.0\.1:(\d+)/,
  );
  return { child, url: `http://127.0.0.1:${match[1]}` };
}

async function startGateway(upstreamUrl) {
  const port = await freePort();
  const proc = {
    runtime: 'process',
    command: mockServeCommand(MOCK, ['--mock-start-delay-ms', '100']),
    vramGiB: 16,
    ttlSeconds: 0,
  };
  const config = {
    listen: { host: '127.0.0.1', port },
    auth: { adminToken: ADMIN },
    limits: { maxConcurrentPerModel: 64, maxQueuePerModel: 256, queueTimeoutSeconds: 20 },
    shutdown: { drainSeconds: DRAIN_S },
    gpu: { probe: 'static', static: [{ name: 'Soak GPU', totalGiB: 24 }] },
    models: { [REMOTE]: { runtime: 'remote', url: upstreamUrl }, 'soak-a': proc, 'soak-b': proc },
  };
  const cfgFile = path.join(tmp, 'gateway.yaml');
  writeFileSync(cfgFile, JSON.stringify(config, null, 2));
  const env = { ...process.env, SOAK_PROBE_FILE: probeFile };
  delete env.LOG_LEVEL;
  const { child } = await spawnLogged(
    process.execPath,
    ['--expose-gc', '--import', PROBE, path.join(ROOT, 'gateway/bin.mjs'), 'serve', '--config', cfgFile, '--port', String(port)],
    path.join(tmp, 'gateway.log'),
    /listening on (http:\/\/\S+)/,
    { env, cwd: ROOT },
  );
  return { child, url: `http://127.0.0.1:${port}`, port };
}

/** One reading of the probe inside the gateway (after a GC). */
async function probe(gw) {
  const before = existsSync(probeFile) ? readFileSync(probeFile, 'utf8').length : 0;
  gw.child.kill('SIGUSR2');
  for (let i = 0; i < 200; i++) {
    await sleep(25);
    const text = existsSync(probeFile) ? readFileSync(probeFile, 'utf8') : '';
    if (text.length > before && text.endsWith('\n')) return JSON.parse(text.slice(before).trim().split('\n').pop());
  }
  throw new Error('the gateway did not answer the probe');
}

// ------------------------------------------------------------------------------------ clients

const stats = {};
const failures = [];
function count(kind, outcome) {
  const s = (stats[kind] ??= { total: 0 });
  s.total++;
  s[outcome] = (s[outcome] ?? 0) + 1;
}

/** A request on a fresh connection; calls back with the response (or error) and the request. */
function request(gw, { path: p = '/v1/chat/completions', body, headers = {}, method = 'POST' }, onResponse, onError) {
  const req = http.request(
    {
      host: '127.0.0.1',
      port: gw.port,
      path: p,
      method,
      agent: false,
      headers: { 'content-type': 'application/json', ...(body != null ? { 'content-length': Buffer.byteLength(body) } : {}), ...headers },
    },
    onResponse,
  );
  req.on('error', onError);
  req.end(body ?? undefined);
  return req;
}

/** Reads a whole response; resolves {status, text} or {error}. */
function exchange(gw, opts) {
  return new Promise((resolve) => {
    request(
      gw,
      opts,
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, text }));
        res.on('error', (error) => resolve({ error }));
      },
      (error) => resolve({ error }),
    );
  });
}

const chat = (model, extra = {}) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1_000_000, ...extra });

/** A 500 internal_error is a gateway bug: remember it. Every other answer is an outcome. */
function judge(kind, r) {
  if (r.error) return count(kind, `error:${r.error.code ?? r.error.message}`);
  let code = '';
  try {
    code = JSON.parse(r.text)?.error?.code ?? '';
  } catch {
    /* a stream or a plain body */
  }
  if (r.status === 500 || code === 'internal_error') failures.push({ kind, status: r.status, body: r.text.slice(0, 300) });
  count(kind, code ? `${r.status} ${code}` : String(r.status));
}

const scenarios = {
  async plain(gw) {
    judge('plain', await exchange(gw, { body: chat(REMOTE), headers: { 'x-mock-tokens': '16' } }));
    await sleep(rand(2, 10));
  },
  async streams(gw) {
    const r = await exchange(gw, {
      body: chat(REMOTE, { stream: true }),
      headers: { 'x-mock-tokens': '20', 'x-mock-token-delay-ms': '10' },
    });
    if (!r.error && r.status === 200 && !r.text.includes('data: [DONE]'))
      failures.push({ kind: 'streams', status: 200, body: 'stream ended without [DONE]' });
    judge('streams', r);
  },
  abortMid(gw) {
    return new Promise((resolve) => {
      const req = request(
        gw,
        { body: chat(REMOTE, { stream: true }), headers: { 'x-mock-tokens': '200', 'x-mock-token-delay-ms': '5' } },
        (res) => {
          res.once('data', () => setTimeout(() => (req.destroy(), count('abortMid', 'dropped'), resolve()), rand(0, 300)));
          res.on('error', () => {});
          res.on('end', () => (count('abortMid', 'completed'), resolve()));
        },
        () => resolve(),
      );
    });
  },
  abortEarly(gw) {
    return new Promise((resolve) => {
      const req = request(
        gw,
        { body: chat(REMOTE), headers: { 'x-mock-delay-ms': '300' } },
        () => {},
        () => {},
      );
      setTimeout(() => (req.destroy(), count('abortEarly', 'dropped'), resolve()), rand(1, 150));
    });
  },
  stalled(gw, cycleEnds) {
    // A raw socket that is never read: the answer (endless fast tokens) fills the socket buffers.
    return new Promise((resolve) => {
      const body = chat(REMOTE, { stream: true });
      const s = net.connect(gw.port, '127.0.0.1', () => {
        s.pause();
        s.write(
          `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:${gw.port}\r\ncontent-type: application/json\r\n` +
            `x-mock-tokens: 1000000\r\nx-mock-token-delay-ms: 0\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      });
      s.on('error', () => {});
      const hold = Math.min(rand(2000, 8000), Math.max(0, cycleEnds - Date.now()));
      setTimeout(() => (s.destroy(), count('stalled', 'dropped'), resolve()), hold);
    });
  },
  halfBody(gw, cycleEnds) {
    return new Promise((resolve) => {
      const body = chat(REMOTE);
      const s = net.connect(gw.port, '127.0.0.1', () => {
        s.write(
          `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:${gw.port}\r\ncontent-type: application/json\r\ncontent-length: ${body.length + 500}\r\n\r\n`,
        );
        s.write(body.slice(0, rand(0, body.length)));
      });
      s.on('error', () => {});
      s.resume();
      const hold = Math.min(rand(0, 3000), Math.max(0, cycleEnds - Date.now()));
      setTimeout(() => (s.destroy(), count('halfBody', 'dropped'), resolve()), hold);
    });
  },
  async bad(gw) {
    const variant = pick([
      { body: '{"model": "soak-remote", ', kind: 'invalid json' },
      { body: chat('no-such-model'), kind: 'unknown model' },
      { body: '', kind: 'empty' },
      { body: '{"messages": []}', kind: 'no model' },
    ]);
    judge('bad', await exchange(gw, { body: variant.body }));
    await sleep(rand(5, 20));
  },
  async races(gw, _cycleEnds, caps) {
    const id = pick(['soak-a', 'soak-b']);
    const admin = { authorization: `Bearer ${ADMIN}` };
    const action = pick(['request', 'request', 'stream', 'load', 'unload', ...(caps.sleep ? ['sleep'] : [])]);
    let r;
    if (action === 'request') r = await exchange(gw, { body: chat(id), headers: { 'x-mock-tokens': '8' } });
    else if (action === 'stream')
      r = await exchange(gw, { body: chat(id, { stream: true }), headers: { 'x-mock-tokens': '10', 'x-mock-token-delay-ms': '20' } });
    else if (action === 'load') r = await exchange(gw, { path: `/gateway/models/${id}/load?wait=false`, body: '', headers: admin });
    else if (action === 'unload') r = await exchange(gw, { path: `/gateway/models/${id}/unload?force=true`, body: '', headers: admin });
    else r = await exchange(gw, { path: `/gateway/models/${id}/sleep`, body: '', headers: admin });
    judge(`races:${action}`, r);
    await sleep(rand(10, 200));
  },
};

/** How many clients run each scenario at once. */
const WORKERS = { plain: 4, streams: 6, abortMid: 3, abortEarly: 2, stalled: 2, halfBody: 2, bad: 1, races: 3 };

async function cycle(gw, caps) {
  const ends = Date.now() + CYCLE_S * 1000;
  const loops = [];
  for (const [name, n] of Object.entries(WORKERS)) {
    for (let i = 0; i < n; i++) {
      loops.push(
        (async () => {
          while (Date.now() < ends) await scenarios[name](gw, ends, caps);
        })(),
      );
    }
  }
  await Promise.all(loops);
}

/**
 * Waits until the gateway holds no request (its status document), with both process models
 * stopped so every sample sees the same set of children, then for idle sockets to close.
 */
async function quiet(gw) {
  for (const id of ['soak-a', 'soak-b'])
    await exchange(gw, { path: `/gateway/models/${id}/unload?force=true`, body: '', headers: { authorization: `Bearer ${ADMIN}` } });
  for (let i = 0; i < 400; i++) {
    const r = await exchange(gw, { method: 'GET', path: '/gateway/status' });
    const doc = r.status === 200 ? JSON.parse(r.text) : null;
    if (doc && doc.models.every((m) => m.inFlight === 0 && m.queued === 0 && (m.runtime === 'remote' || m.state === 'stopped'))) break;
    await sleep(50);
  }
  await sleep(5000); // undici's upstream keep-alive (4 s) and the mock's sockets wind down
}

function descendants(root) {
  const parent = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out = [];
  const walk = (p) => {
    for (const [pid, pp] of parent) {
      if (pp !== p) continue;
      out.push(pid);
      walk(pid);
    }
  };
  walk(root);
  return out;
}

const alive = (pid) => {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

// ------------------------------------------------------------------------------------ main

async function main() {
  const t0 = Date.now();
  if (!existsSync(path.join(ROOT, 'dist/gateway/cli.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const mock = await startMock();
  const gw = await startGateway(mock.url);
  log(`soak: ${MINUTES} min of mixed traffic in ${CYCLE_S} s cycles; gateway ${gw.url} (pid ${gw.child.pid}); logs in ${tmp}`);
  const sleepProbe = await exchange(gw, { path: '/gateway/models/soak-a/sleep', body: '', headers: { authorization: `Bearer ${ADMIN}` } });
  const caps = { sleep: sleepProbe.status !== 404 };
  log(`sleep route: ${caps.sleep ? 'present, raced' : 'absent (404), not raced'}`);

  let peakRss = 0;
  const rssTick = setInterval(() => (peakRss = Math.max(peakRss, rssMiB([gw.child.pid]))), 250);
  let healthDown = 0;
  const healthTick = setInterval(async () => {
    const r = await exchange(gw, { method: 'GET', path: '/health' });
    if (r.status !== 200) healthDown++;
  }, 1000);

  await quiet(gw);
  const samples = [{ ...(await probe(gw)), elapsedS: 0 }];
  log(sampleLine(samples[0], 'start'));
  const trafficStart = Date.now();
  while (Date.now() - trafficStart < MINUTES * 60_000) {
    await cycle(gw, caps);
    await quiet(gw);
    const s = { ...(await probe(gw)), elapsedS: (Date.now() - trafficStart) / 1000 };
    samples.push(s);
    log(sampleLine(s));
  }
  clearInterval(rssTick);
  clearInterval(healthTick);

  // Verdict on the quiet samples, from the first one after BASELINE_AFTER_S of traffic.
  const traffic = samples.slice(1);
  const bi = traffic.findIndex((s) => s.elapsedS >= BASELINE_AFTER_S);
  const base = bi >= 0 ? traffic[bi] : null;
  const later = bi >= 0 ? traffic.slice(bi + 1) : [];
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok, detail });
  if (!base || later.length === 0) check('enough samples after the first minute', false, `${traffic.length} samples`);
  else {
    const maxRss = Math.max(...later.map((s) => s.rssMiB));
    check(
      `RSS within ${RSS_BOUND * 100} % of the baseline (${base.rssMiB.toFixed(1)} MiB after ${base.elapsedS.toFixed(0)} s)`,
      maxRss <= base.rssMiB * (1 + RSS_BOUND),
      `max later ${maxRss.toFixed(1)} MiB (${((maxRss / base.rssMiB - 1) * 100).toFixed(1)} %)`,
    );
    for (const k of ['handles', 'fds', 'listeners']) {
      const max = Math.max(...later.map((s) => s[k] ?? 0));
      check(`${k} at most ${SLACK[k]} above the baseline (${base[k]})`, max <= base[k] + SLACK[k], `max later ${max}`);
    }
  }
  check(
    'no 500 internal_error, every stream read to the end had [DONE]',
    failures.length === 0,
    failures.length ? JSON.stringify(failures.slice(0, 3)) : 'none',
  );
  check('/health answered 200 every second', healthDown === 0, `${healthDown} misses`);
  const served = (stats.plain?.['200'] ?? 0) + (stats.streams?.['200'] ?? 0);
  check('traffic was served', served > 0, `${served} plain and streamed 200s`);

  // Shutdown with streams open: it must end within drainSeconds + 2 s.
  const longStreams = [];
  for (let i = 0; i < 8; i++)
    longStreams.push(
      exchange(gw, { body: chat(REMOTE, { stream: true }), headers: { 'x-mock-tokens': '400', 'x-mock-token-delay-ms': '50' } }),
    );
  await exchange(gw, { body: chat('soak-a'), headers: { 'x-mock-tokens': '1' } }); // a process model running too
  await sleep(500);
  const family = descendants(gw.child.pid);
  const exited = new Promise((r) => gw.child.once('exit', (code, sig) => r(code ?? sig)));
  const tTerm = Date.now();
  gw.child.kill('SIGTERM');
  const code = await Promise.race([exited, sleep((DRAIN_S + 10) * 1000).then(() => 'still running')]);
  const exitS = (Date.now() - tTerm) / 1000;
  await Promise.all(longStreams);
  await sleep(300);
  const leftover = family.filter(alive);
  check(
    `SIGTERM exits within drainSeconds + 2 s (${DRAIN_S + 2} s) with 8 streams open`,
    code === 0 && exitS <= DRAIN_S + 2,
    `exit ${code} after ${exitS.toFixed(2)} s`,
  );
  check(
    'no process the gateway started is left',
    leftover.length === 0,
    leftover.length ? `alive: ${leftover.join(', ')}` : `${family.length} stopped`,
  );
  await stop(mock.child);

  const results = {
    date: new Date().toISOString(),
    minutes: MINUTES,
    cycleSeconds: CYCLE_S,
    workers: WORKERS,
    node: process.version,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '' },
    peakRssMiB: peakRss,
    samples,
    stats,
    failures,
    shutdown: { exitCode: code, seconds: exitS, drainSeconds: DRAIN_S },
    checks,
    elapsedS: (Date.now() - t0) / 1000,
  };
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  log('');
  log('| kind | requests | outcomes |');
  log('| --- | ---: | --- |');
  for (const [k, v] of Object.entries(stats).sort()) {
    const { total, ...rest } = v;
    log(
      `| ${k} | ${total} | ${Object.entries(rest)
        .map(([o, n]) => `${o}: ${n}`)
        .join(', ')} |`,
    );
  }
  log('');
  log(`peak RSS during traffic: ${peakRss.toFixed(1)} MiB`);
  log('');
  for (const c of checks) log(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`);
  log(`wrote ${OUT} in ${results.elapsedS.toFixed(0)} s`);
  return checks.every((c) => c.ok) ? 0 : 1;
}

function sampleLine(s, label) {
  const res = Object.entries(s.resources)
    .map(([k, v]) => `${k} ${v}`)
    .join(' ');
  const kinds = Object.entries(s.emittersByKind)
    .sort((a, b) => b[1].listeners - a[1].listeners)
    .slice(0, 4)
    .map(([k, v]) => `${k} ${v.emitters}/${v.listeners}`)
    .join(', ');
  return `${label ?? `${s.elapsedS.toFixed(0).padStart(4)} s`}  rss ${s.rssMiB.toFixed(1)} MiB  heap ${s.heapUsedMiB.toFixed(1)}/${s.heapTotalMiB.toFixed(1)} MiB  external ${s.externalMiB.toFixed(1)} MiB  handles ${s.handles} (${res})  fds ${s.fds}  emitters ${s.emitters}  listeners ${s.listeners} (max ${s.maxListenersOnOneEmitter} on one; ${kinds})`;
}

let cleaning = null;
const cleanUp = () =>
  (cleaning ??= (async () => {
    await stopAll().catch(() => {});
    if (process.env.SOAK_KEEP_TMP !== '1') rmSync(tmp, { recursive: true, force: true });
  })());
for (const [sig, n] of [
  ['SIGINT', 2],
  ['SIGTERM', 15],
]) {
  process.on(sig, () => {
    log(`\n${sig}: stopping the soak's processes`);
    void cleanUp().finally(() => process.exit(128 + n));
  });
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(err);
} finally {
  await cleanUp();
}
process.exit(code);
