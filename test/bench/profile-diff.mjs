#!/usr/bin/env node
// Per-request self time of two V8 .cpuprofiles (`node --cpu-prof`) under the same load, by function
// and by package, side by side, sorted by the difference: where B spends more than A per request.
//   node test/bench/profile-diff.mjs A.cpuprofile REQUESTS_A B.cpuprofile REQUESTS_B [N]
// Samples before the first one inside node:http's request handler are left out (start-up: module
// loading, config); idle time is left out. REQUESTS_* are the requests each process served
// (test/bench/ab.mjs prints them).
import { readFileSync } from 'node:fs';

const [fa, na, fb, nb, top = '40'] = process.argv.slice(2);

function load(file, requests) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inRequest = (id) => {
    for (let x = id; x !== undefined; x = parent.get(x)) if (byId.get(x).callFrame.functionName === 'parserOnIncoming') return true;
    return false;
  };
  const fn = new Map();
  const pkg = new Map();
  let started = false;
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i];
    if (!started && !inRequest(id)) continue;
    started = true;
    const cf = byId.get(id).callFrame;
    if (cf.functionName === '(idle)') continue;
    const us = prof.timeDeltas[i] ?? 0;
    total += us;
    const short = cf.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(dist|test)\//, '$1/');
    const key = `${cf.functionName || '(anonymous)'}  ${short}:${cf.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const f = short.replace(/:.*$/, '') || cf.functionName;
    const p =
      f.startsWith('dist/') || f.startsWith('test/') || f.startsWith('node:')
        ? f
        : f
            .split('/')
            .slice(0, f.startsWith('@') ? 2 : 1)
            .join('/');
    pkg.set(p, (pkg.get(p) ?? 0) + us);
  }
  const per = (m) => new Map([...m].map(([k, v]) => [k, v / requests]));
  return { total: total / requests, fn: per(fn), pkg: per(pkg) };
}

const a = load(fa, Number(na));
const b = load(fb, Number(nb));
const show = (ma, mb, k) => {
  const keys = new Set([...ma.keys(), ...mb.keys()]);
  return [...keys]
    .map((key) => [key, ma.get(key) ?? 0, mb.get(key) ?? 0])
    .sort((x, y) => y[2] - y[1] - (x[2] - x[1]))
    .slice(0, k)
    .map(
      ([key, x, y]) =>
        `${x.toFixed(2).padStart(7)} ${y.toFixed(2).padStart(7)} ${(y - x >= 0 ? '+' : '') + (y - x).toFixed(2).padStart(6)}  ${key}`,
    )
    .join('\n');
};
console.log(`busy µs per request (samples after the first request, idle left out): A ${a.total.toFixed(1)}, B ${b.total.toFixed(1)}\n`);
console.log(`      A       B   B−A  (µs per request) by package or file\n${show(a.pkg, b.pkg, 30)}\n`);
console.log(`      A       B   B−A  (µs per request) by function\n${show(a.fn, b.fn, Number(top))}`);
