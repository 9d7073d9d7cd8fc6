// Helpers of the benchmark harness (run.mjs): processes, /proc readings, statistics, the SSE client.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, openSync, readFileSync, readdirSync, closeSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A chat request whose body is about `bytes` long (the prompt fills it). */
export function bigBody(model, bytes) {
  const head = `{"model":${JSON.stringify(model)},"max_tokens":16,"messages":[{"role":"user","content":"`;
  const tail = '"}]}';
  const fill = Math.max(0, bytes - head.length - tail.length);
  const word = 'lorem ipsum dolor sit amet ';
  return head + word.repeat(Math.ceil(fill / word.length)).slice(0, fill) + tail;
}

export function chatBody(model, stream) {
  return JSON.stringify({
    model,
    messages: [{ role: 'user', content: 'Hello! Say something short.' }],
    max_tokens: 64,
    ...(stream ? { stream: true } : {}),
  });
}

/** The command of a `runtime: process` mock vLLM model, as a gateway config writes it. */
export function mockServeCommand(mockPath, extraArgs = []) {
  return [process.execPath, mockPath, '--served-model-name', '${MODEL_ID}', '--host', '127.0.0.1', '--port', '${PORT}', ...extraArgs];
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Spawn and wait for a line matching `re` on stdout (piped); returns {child, match}. */
export function spawnUntil(cmd, args, re, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${cmd} did not print ${re} within 30 s:\n${out.slice(-2000)}`)), 30_000);
    const onData = (c) => {
      out += c;
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stdout.resume(); // keep draining
        resolve({ child, match: m });
      }
    };
    function fail(err) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => (out += c));
    child.once('exit', (code, sig) => fail(new Error(`${cmd} exited (${code ?? sig}) before it was ready:\n${out.slice(-2000)}`)));
    child.once('error', fail);
  });
}

// ------------------------------------------------------------------------------------ children

/** Every child the harness started and that has not exited yet (for the signal handler). */
const live = new Set();

// Children get SIGTERM when the harness dies, even by SIGKILL, where util-linux's setpriv can ask
// the kernel for it (prctl PR_SET_PDEATHSIG; setpriv execs the command, so the pid is the same).
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;

/** child_process.spawn, tracked for `stopAll()` and tied to the harness's life. */
export function spawnTracked(cmd, args, opts = {}) {
  const child = SETPRIV ? spawn(SETPRIV, ['--pdeathsig', 'SIGTERM', cmd, ...args], opts) : spawn(cmd, args, opts);
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/** SIGTERM every live child, SIGKILL those still there after `ms`; resolves when all are gone. */
export async function stopAll(ms = 5000) {
  await Promise.all([...live].map((c) => stop(c, ms)));
}

/** Spawn with stdout+stderr into a file, and poll that file until `re` appears. */
export async function spawnLogged(cmd, args, logFile, re, opts = {}) {
  const fd = openSync(logFile, 'w');
  const child = spawnTracked(cmd, args, { stdio: ['ignore', fd, fd], ...opts });
  closeSync(fd);
  let exited = null;
  child.once('exit', (code, sig) => (exited = code ?? sig));
  const until = Date.now() + 60_000;
  for (;;) {
    const text = readFileSync(logFile, 'utf8');
    const m = re.exec(text);
    if (m) return { child, match: m };
    if (exited !== null) throw new Error(`${cmd} ${args.join(' ')} exited (${exited}):\n${text.slice(-3000)}`);
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`${cmd} did not print ${re} within 60 s:\n${text.slice(-3000)}`);
    }
    await sleep(20);
  }
}

export async function stop(child, ms = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  if (child.pid === undefined) return; // never started
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), ms);
  await gone;
  clearTimeout(t);
}

// ------------------------------------------------------------------------------------ /proc

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of one process, in ms. */
export function cpuMs(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // fields 14 and 15
  } catch {
    return 0;
  }
}

export const cpuMsAll = (pids) => pids.reduce((s, p) => s + cpuMs(p), 0);

/** VmRSS in MiB, summed over pids. */
export function rssMiB(pids) {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      /* gone */
    }
  }
  return kb / 1024;
}

export function childPids(ppid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === ppid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------ statistics

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// ------------------------------------------------------------------------------------ SSE client

/**
 * `n` concurrent streams held for `windowMs`: each of n workers opens a stream, reads it to the end
 * and opens the next one. Workers start spread over one stream's length, so starts are staggered
 * as in steady use rather than a synchronized burst; streams that start before all workers are
 * running (the ramp) are not counted. Per stream: time to the first body chunk, gaps between
 * chunks, whole time. `onTick` runs every 20 ms (RSS sampling).
 */
export function runStreams({ url, n, model, tokens, tokenDelayMs, windowMs = 0, onTick }) {
  const u = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const body = chatBody(model, true);
  const ttfc = [];
  const gaps = [];
  const total = [];
  let failed = 0;
  let count = 0;
  const streamMs = tokens * tokenDelayMs;
  const t0 = performance.now();
  const rampEnd = t0 + streamMs;
  const stopAt = rampEnd + windowMs;
  const tick = onTick ? setInterval(onTick, 20) : null;
  return new Promise((resolve) => {
    let workers = n;
    const finish = () => {
      if (--workers > 0) return;
      if (tick) clearInterval(tick);
      agent.destroy();
      const s = (a) => a.sort((x, y) => x - y);
      s(ttfc);
      s(gaps);
      s(total);
      resolve({
        streams: count,
        failed,
        ttfcP50: percentile(ttfc, 50),
        ttfcP99: percentile(ttfc, 99),
        gapP99: percentile(gaps, 99),
        totalP50: percentile(total, 50),
        totalP99: percentile(total, 99),
      });
    };
    const one = (then) => {
      const start = performance.now();
      const counted = windowMs === 0 || start >= rampEnd;
      let last = 0;
      let text = '';
      let settled = false;
      const end = (ok) => {
        if (settled) return;
        settled = true;
        if (!ok) failed++;
        then();
      };
      const req = http.request(
        {
          host: u.hostname,
          port: u.port,
          path: '/v1/chat/completions',
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-mock-tokens': String(tokens),
            'x-mock-token-delay-ms': String(tokenDelayMs),
          },
        },
        (res) => {
          res.setEncoding('utf8');
          res.on('data', (c) => {
            const now = performance.now();
            if (counted) {
              if (last === 0) ttfc.push(now - start);
              else gaps.push(now - last);
            }
            last = now;
            text += c;
          });
          res.on('end', () => {
            const ok = res.statusCode === 200 && text.includes('data: [DONE]');
            if (ok && counted) {
              total.push(performance.now() - start);
              count++;
            }
            end(ok);
          });
          res.on('error', () => end(false));
        },
      );
      req.on('error', () => end(false));
      req.end(body);
    };
    for (let i = 0; i < n; i++) {
      const loop = () => (windowMs > 0 && performance.now() < stopAt ? one(loop) : finish());
      const delay = windowMs > 0 ? (i * streamMs) / n : 0;
      if (windowMs === 0) one(finish);
      else setTimeout(() => one(loop), delay);
    }
  });
}

/** One request; resolves {status, body, firstByteAt (epoch ms)}. */
export function post(url, path, body, headers = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent: false },
      (res) => {
        let firstByteAt = null;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          firstByteAt ??= performance.timeOrigin + performance.now();
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode, body: text, firstByteAt }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function getJson(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}
