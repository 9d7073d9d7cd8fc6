// The per-request metrics (one histogram observation or counter increment per request and model)
// as plain numbers, exported through the same prom-client registry as every other metric. A
// prom-client child costs one to two microseconds a call on Node 20 (label validation and hashing
// on every observe/inc); these cost a few array writes. They give the registry what prom-client's
// own Histogram and Counter give it (`get()`), so the text at /metrics is the same.

import type { Metric, Registry } from 'prom-client';

interface Value {
  value: number;
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  metricName?: string;
}

interface Exported {
  name: string;
  help: string;
  type: 'histogram' | 'counter';
  aggregator: 'sum';
  values: Value[];
}

interface Series {
  labels: Record<string, string>;
  counts: Float64Array;
  sum: number;
  count: number;
}

/** A histogram keyed by one label (and optionally a few more), for values that are finite and at least 0 (durations). */
export class LabelledHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();
  private readonly bounds: Float64Array;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    buckets: readonly number[],
    registry: Registry,
  ) {
    this.bounds = Float64Array.from([...buckets].sort((a, b) => a - b));
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series for one label value (and any further labels), for its observe() on the hot path. */
  child(labelValue: string, more?: Record<string, string>): { observe(v: number): void } {
    const key = more ? `${labelValue}\u0000${JSON.stringify(more)}` : labelValue;
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { [this.labelName]: labelValue, ...more }, counts: new Float64Array(this.bounds.length), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const series = s;
    const bounds = this.bounds;
    return {
      observe(v: number): void {
        if (!(v >= 0) || v === Infinity) return; // NaN, negative or infinite: not a duration
        series.sum += v;
        series.count += 1;
        for (let i = 0; i < bounds.length; i++) {
          if (v <= bounds[i]) {
            series.counts[i] += 1;
            return;
          }
        }
      },
    };
  }

  get(): Exported {
    const values: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i];
        values.push({ labels: { le: this.bounds[i] }, sharedLabels: s.labels, value: acc, metricName: bucket });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

/** A counter keyed by a fixed set of label values, for inc() on the hot path. */
export class LabelledCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { labels: Record<string, string>; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series for one set of labels (resolve once, then inc() costs one addition). */
  child(labels: Record<string, string>): { inc(v?: number): void } {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { ...labels }, value: 0 };
      this.series.set(key, s);
    }
    const series = s;
    return {
      inc(v = 1): void {
        if (v >= 0 && v !== Infinity) series.value += v; // counters only go up
      },
    };
  }

  get(): Exported {
    const values: Value[] = [];
    for (const s of this.series.values()) values.push({ labels: s.labels, value: s.value });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const s of this.series.values()) s.value = 0;
  }
}
