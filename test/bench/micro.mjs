#!/usr/bin/env node
// Micro-benchmarks of pieces of the per-request path, old way against new, interleaved in one
// process (on a busy machine the absolute ns move; the ratio within a run holds much better).
//   node test/bench/micro.mjs        (needs dist/: npx tsc -p tsconfig.json)
import { Counter, Histogram, Registry } from 'prom-client';
import { isoTime } from '../../dist/gateway/iso-time.js';
import { RecentRing } from '../../dist/gateway/recent-requests.js';
import { LabelledCounter, LabelledHistogram } from '../../dist/gateway/request-metrics.js';

const N = Number(process.env.MICRO_N ?? 300_000);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 7);
const cases = {};
function pair(name, before, after) {
  cases[name] = { before, after };
}

const BUCKETS = [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
{
  const r = new Registry();
  const old = new Histogram({ name: 'h', help: 'h', labelNames: ['model'], buckets: BUCKETS, registers: [r] }).labels({ model: 'm' });
  const neu = new LabelledHistogram('h2', 'h', 'model', BUCKETS, new Registry()).child('m');
  pair(
    'histogram observe',
    (i) => old.observe((i % 997) / 1000),
    (i) => neu.observe((i % 997) / 1000),
  );
  const oc = new Counter({ name: 'c', help: 'c', labelNames: ['model', 'status'], registers: [r] }).labels({ model: 'm', status: '200' });
  const nc = new LabelledCounter('c2', 'c', new Registry()).child({ model: 'm', status: '200' });
  pair(
    'counter inc',
    () => oc.inc(),
    () => nc.inc(),
  );
}
{
  const t0 = Date.now();
  let sink = 0;
  pair(
    'ISO timestamp',
    (i) => (sink += new Date(t0 + (i >> 2)).toISOString().length),
    (i) => (sink += isoTime(t0 + (i >> 2)).length),
  );
}
{
  const arr = [];
  const ring = new RecentRing(50);
  pair(
    'recent requests (50)',
    (i) => {
      arr.unshift({ i });
      if (arr.length > 50) arr.length = 50;
    },
    (i) => ring.add({ i }),
  );
}

const results = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, { before, after }] of Object.entries(cases)) {
    for (const [k, f] of [
      ['before', before],
      ['after', after],
    ]) {
      const t = process.hrtime.bigint();
      for (let i = 0; i < N; i++) f(i);
      const ns = Number(process.hrtime.bigint() - t) / N;
      (results[name] ??= { before: [], after: [] })[k].push(ns);
    }
  }
}
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const [name, { before, after }] of Object.entries(results)) {
  console.log(
    `${name.padEnd(24)} before ${med(before).toFixed(0).padStart(5)} ns  after ${med(after).toFixed(0).padStart(5)} ns  (×${(med(after) / med(before)).toFixed(2)})`,
  );
}
