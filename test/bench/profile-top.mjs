#!/usr/bin/env node
// Top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`), and the same grouped by file.
//   node test/bench/profile-top.mjs FILE.cpuprofile [N]
// Profile the gateway under load with: BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" npm run bench
import { readFileSync } from 'node:fs';

const [file, n = '40'] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const self = new Map();
const dt = prof.timeDeltas;
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const fn = new Map();
const files = new Map();
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  const short = cf.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/dist\//, 'dist/');
  const key = `${cf.functionName || '(anonymous)'}  ${short}:${cf.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  const f = short.replace(/:.*$/, '') || cf.functionName;
  const pkg =
    f.startsWith('dist/') || f.startsWith('node:')
      ? f
      : f
          .split('/')
          .slice(0, f.startsWith('@') ? 2 : 1)
          .join('/');
  files.set(pkg, (files.get(pkg) ?? 0) + us);
}
const show = (m, k) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([name, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`)
    .join('\n');
console.log(
  `total ${(total / 1000).toFixed(0)} ms sampled\n\nby function (self time):\n${show(fn, Number(n))}\n\nby file or package:\n${show(files, 25)}`,
);
