// The per-request metrics must print exactly what prom-client's own Histogram and Counter print
// for the same observations: scrapers and dashboards see no difference.
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LabelledCounter, LabelledHistogram } from '../../gateway/request-metrics.js';

const BUCKETS = [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5];
const VALUES = [0, 0.001, 0.005, 0.0051, 0.2, 0.5, 0.99, 2.5, 4, 5, 7, 300, 0.025];

describe('LabelledHistogram', () => {
  it('prints what prom-client prints for the same observations', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const h = new Histogram({ name: 'x_seconds', help: 'X time', labelNames: ['model'], buckets: BUCKETS, registers: [theirs] });
    const mine = new LabelledHistogram('x_seconds', 'X time', 'model', BUCKETS, ours);
    for (const [i, model] of ['a', 'b/c "quoted"', 'a'].entries()) {
      const c = mine.child(model);
      for (const v of VALUES.slice(i)) {
        h.labels({ model }).observe(v);
        c.observe(v);
      }
    }
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('x_seconds_bucket{le="0.005",model="a"} 4');
    expect(text).toContain('x_seconds_count{model="a"} 24');
  });

  it('prints only HELP and TYPE before the first observation, as prom-client does', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    new Histogram({ name: 'y_seconds', help: 'Y', labelNames: ['model'], buckets: BUCKETS, registers: [theirs] });
    new LabelledHistogram('y_seconds', 'Y', 'model', BUCKETS, ours);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('ignores values that are not durations instead of corrupting the sum', async () => {
    const r = new Registry();
    const c = new LabelledHistogram('z_seconds', 'Z', 'model', BUCKETS, r).child('m');
    for (const v of [Number.NaN, -1, Infinity, 0.3]) c.observe(v);
    const text = await r.metrics();
    expect(text).toContain('z_seconds_count{model="m"} 1');
    expect(text).toContain('z_seconds_sum{model="m"} 0.3');
  });
});

describe('LabelledCounter', () => {
  it('prints what prom-client prints for the same increments', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const c = new Counter({ name: 'r_total', help: 'Requests', labelNames: ['model', 'status'], registers: [theirs] });
    const mine = new LabelledCounter('r_total', 'Requests', ours);
    const calls: Array<[string, string, number]> = [
      ['a', '200', 1],
      ['a', '499', 1],
      ['b', '200', 3],
      ['a', '200', 2],
    ];
    for (const [model, status, n] of calls) {
      c.labels({ model, status }).inc(n);
      mine.child({ model, status }).inc(n);
    }
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('r_total{model="a",status="200"} 3');
  });
});
