// One autocannon run, in its own process so the harness's event loop stays out of the way.
//   node test/bench/load-worker.mjs '{"url":..., "connections":16, "durationS":5, "headers":{}, "body":"..."|null, "bodyBytes":N}'
// Prints one JSON line: requests, rps, exact p50/p99/mean latency in ms (from every 2xx response's
// own hrtime-based time; autocannon's histogram rounds to whole milliseconds), errors, non2xx.
import autocannon from 'autocannon';
import { bigBody } from './lib.mjs';

const o = JSON.parse(process.argv[2]);
const body = o.bodyBytes ? bigBody(o.model, o.bodyBytes) : o.body;
const lat = [];
let non2xx = 0;

const inst = autocannon({
  url: o.url,
  connections: o.connections,
  duration: o.durationS,
  method: 'POST',
  headers: { 'content-type': 'application/json', ...o.headers },
  body,
  pipelining: 1,
  timeout: 30,
});
inst.on('response', (_client, status, _bytes, ms) => {
  if (status >= 200 && status < 300) lat.push(ms);
  else non2xx++;
});
inst.on('done', (r) => {
  lat.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)] : null);
  const mean = lat.length ? lat.reduce((s, x) => s + x, 0) / lat.length : null;
  const seconds = r.duration || o.durationS; // autocannon reports seconds
  process.stdout.write(
    `${JSON.stringify({
      requests: lat.length + non2xx,
      ok: lat.length,
      rps: lat.length / seconds,
      p50: pct(50),
      p99: pct(99),
      mean,
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx,
      durationS: seconds,
    })}\n`,
  );
});
