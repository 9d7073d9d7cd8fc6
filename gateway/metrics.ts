// Prometheus metrics (GET /metrics). Gauges are read from the live state at scrape time;
// per-request work is one counter increment and two histogram observations.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Scheduler } from './scheduler/scheduler.js';
import type { StatusDocument } from './status-types.js';

/** Prometheus counts memory in bytes; the status document in MiB. */
const MIB = 1024 * 1024;

const STATES = ['stopped', 'pulling', 'starting', 'ready', 'stopping', 'failed'] as const;

/** One model's labelled metric children, resolved once (prom-client hashes labels on every call). */
export interface ModelMetrics {
  duration: { observe(v: number): void };
  firstByte: { observe(v: number): void };
  retries: { inc(v?: number): void };
  requests(status: number): { inc(v?: number): void };
}

export class Metrics {
  private readonly perModel = new Map<string, ModelMetrics>();

  readonly registry = new Registry();
  readonly requests: Counter<'model' | 'status'>;
  readonly duration: Histogram<'model'>;
  readonly firstByte: Histogram<'model'>;
  readonly retries: Counter<'model'>;

  forModel(model: string): ModelMetrics {
    let m = this.perModel.get(model);
    if (!m) {
      const byStatus = new Map<number, { inc(v?: number): void }>();
      m = {
        duration: this.duration.labels({ model }),
        firstByte: this.firstByte.labels({ model }),
        retries: this.retries.labels({ model }),
        requests: (status) => {
          let c = byStatus.get(status);
          if (!c) byStatus.set(status, (c = this.requests.labels({ model, status: String(status) })));
          return c;
        },
      };
      this.perModel.set(model, m);
    }
    return m;
  }

  constructor(scheduler: Scheduler, status: () => StatusDocument) {
    const r = this.registry;
    // Node's process metrics under the gateway's one prefix: vllm_gateway_process_cpu_seconds_total, …
    collectDefaultMetrics({ register: r, prefix: 'vllm_gateway_' });
    this.requests = new Counter({
      name: 'vllm_gateway_requests_total',
      help: 'Proxied requests by model and HTTP status',
      labelNames: ['model', 'status'],
      registers: [r],
    });
    this.duration = new Histogram({
      name: 'vllm_gateway_request_duration_seconds',
      help: 'Whole request time, queueing included',
      labelNames: ['model'],
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [r],
    });
    this.firstByte = new Histogram({
      name: 'vllm_gateway_upstream_first_byte_seconds',
      help: 'Time from forwarding to the model server answering',
      labelNames: ['model'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30],
      registers: [r],
    });
    this.retries = new Counter({
      name: 'vllm_gateway_upstream_retries_total',
      help: 'Connection retries to model servers',
      labelNames: ['model'],
      registers: [r],
    });
    new Gauge({
      name: 'vllm_gateway_model_queued_requests',
      help: 'Requests waiting for a slot or for the model to start',
      labelNames: ['model'],
      registers: [r],
      collect() {
        for (const e of scheduler.entries.values()) this.set({ model: e.id }, e.queue.queued);
      },
    });
    new Gauge({
      name: 'vllm_gateway_model_in_flight_requests',
      help: 'Requests being proxied',
      labelNames: ['model'],
      registers: [r],
      collect() {
        for (const e of scheduler.entries.values()) this.set({ model: e.id }, e.queue.inFlight.size);
      },
    });
    new Gauge({
      name: 'vllm_gateway_model_state',
      help: '1 for the state the model is in',
      labelNames: ['model', 'state'],
      registers: [r],
      collect() {
        for (const e of scheduler.entries.values()) for (const s of STATES) this.set({ model: e.id, state: s }, e.state === s ? 1 : 0);
      },
    });
    new Counter({
      name: 'vllm_gateway_evictions_total',
      help: 'Models stopped to make room for another',
      registers: [r],
      collect() {
        this.reset();
        this.inc(scheduler.evictions);
      },
    });
    new Gauge({
      name: 'vllm_gateway_gpu_memory_bytes',
      help: 'GPU memory by kind (total, used, free, other: used by processes the gateway does not manage)',
      labelNames: ['gpu', 'name', 'kind'],
      registers: [r],
      collect() {
        for (const g of status().gpus) {
          const labels = { gpu: String(g.index), name: g.name };
          this.set({ ...labels, kind: 'total' }, g.totalMiB * MIB);
          this.set({ ...labels, kind: 'used' }, g.usedMiB * MIB);
          this.set({ ...labels, kind: 'free' }, g.freeMiB * MIB);
          this.set({ ...labels, kind: 'other' }, g.otherMiB * MIB);
        }
      },
    });
  }
}
