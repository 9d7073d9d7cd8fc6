// Prometheus metrics (GET /metrics), every one listed in docs/metrics.md. Gauges are read from the
// live state at scrape time; per-request work is one counter increment and two histogram
// observations (and two counter increments when the response carried `usage`). The engines'
// own figures are re-exported under the gateway's names with a `model` label, so one scrape of
// the gateway covers every model server.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { LabelledCounter, LabelledHistogram } from './request-metrics.js';
import type { Priority } from './scheduler/priority.js';
import type { Scheduler } from './scheduler/scheduler.js';
import type { EngineStatus, StatusDocument } from './status-types.js';

/** What the engine scraper offers the metrics (gateway/engine/engine-scraper.ts). */
export interface EngineMetricsSource {
  engine(id: string): EngineStatus | null;
  tokensSeen(id: string): { promptTokensSeen: number; generationTokensSeen: number } | null;
}

/** Prometheus counts memory in bytes; the status document in MiB. */
const MIB = 1024 * 1024;

const STATES = ['stopped', 'pulling', 'starting', 'ready', 'sleeping', 'waking', 'stopping', 'failed'] as const;

/**
 * Gauges and counters with one series per model, rebuilt from `value` at each scrape; a model whose
 * value is null has no series then. Counters copy totals kept elsewhere (the engine scraper's).
 */
function perModelSeries(registry: Registry, ids: () => Iterable<string>) {
  function* series(value: (id: string) => number | null) {
    for (const model of ids()) {
      const v = value(model);
      if (v !== null) yield [{ model }, v] as const;
    }
  }
  const config = (name: string, help: string) => ({ name, help, labelNames: ['model'], registers: [registry] });
  return {
    gauge(name: string, help: string, value: (id: string) => number | null): void {
      new Gauge({
        ...config(name, help),
        collect() {
          this.reset();
          for (const [labels, v] of series(value)) this.set(labels, v);
        },
      });
    },
    counter(name: string, help: string, value: (id: string) => number | null): void {
      new Counter({
        ...config(name, help),
        collect() {
          this.reset();
          for (const [labels, v] of series(value)) this.inc(labels, v);
        },
      });
    },
  };
}

/** One model's per-request metric series, resolved once (request-metrics.ts: plain additions). */
export interface ModelMetrics {
  duration: { observe(v: number): void };
  /** Arrival to the response's first byte, as the client saw it. */
  firstByte: { observe(v: number): void };
  /** Forwarding to the model server's first byte. */
  upstreamFirstByte: { observe(v: number): void };
  retries: { inc(v?: number): void };
  /** Time from arrival to a slot (the model's start included), by the request's class. */
  queueWait(priority: Priority): { observe(v: number): void };
  requests(status: number): { inc(v?: number): void };
  /** Tokens from a response's `usage`. */
  usage(promptTokens: number, completionTokens: number): void;
}

export class Metrics {
  private readonly perModel = new Map<string, ModelMetrics>();

  readonly registry = new Registry();
  readonly requests: LabelledCounter;
  readonly duration: LabelledHistogram;
  readonly firstByte: LabelledHistogram;
  readonly upstreamFirstByte: LabelledHistogram;
  readonly queueWait: LabelledHistogram;
  readonly retries: LabelledCounter;
  readonly usagePrompt: LabelledCounter;
  readonly usageCompletion: LabelledCounter;

  forModel(model: string): ModelMetrics {
    let m = this.perModel.get(model);
    if (!m) {
      const byStatus = new Map<number, { inc(v?: number): void }>();
      const waits = {
        interactive: this.queueWait.child(model, { priority: 'interactive' }),
        batch: this.queueWait.child(model, { priority: 'batch' }),
      };
      const prompt = this.usagePrompt.child({ model });
      const completion = this.usageCompletion.child({ model });
      m = {
        duration: this.duration.child(model),
        firstByte: this.firstByte.child(model),
        upstreamFirstByte: this.upstreamFirstByte.child(model),
        retries: this.retries.child({ model }),
        queueWait: (priority) => waits[priority],
        requests: (status) => {
          let c = byStatus.get(status);
          if (!c) byStatus.set(status, (c = this.requests.child({ model, status: String(status) })));
          return c;
        },
        usage: (p, c) => {
          prompt.inc(p);
          completion.inc(c);
        },
      };
      this.perModel.set(model, m);
    }
    return m;
  }

  constructor(
    private readonly scheduler: Scheduler,
    status: () => StatusDocument,
  ) {
    const r = this.registry;
    // Node's process metrics under the gateway's one prefix: vllm_gateway_process_cpu_seconds_total, …
    collectDefaultMetrics({ register: r, prefix: 'vllm_gateway_' });
    this.requests = new LabelledCounter('vllm_gateway_requests_total', 'Proxied requests by model and HTTP status', r);
    this.duration = new LabelledHistogram(
      'vllm_gateway_request_duration_seconds',
      'Whole request time, queueing included',
      'model',
      [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      r,
    );
    this.firstByte = new LabelledHistogram(
      'vllm_gateway_first_byte_seconds',
      "Time from the request's arrival to its response's first byte (queueing and a cold start included)",
      'model',
      [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      r,
    );
    this.upstreamFirstByte = new LabelledHistogram(
      'vllm_gateway_upstream_first_byte_seconds',
      'Time from forwarding to the model server answering',
      'model',
      [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30],
      r,
    );
    this.queueWait = new LabelledHistogram(
      'vllm_gateway_queue_wait_seconds',
      'Time from arrival to a slot (the model start or wake included), by model and priority class',
      'model',
      [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      r,
    );
    this.retries = new LabelledCounter('vllm_gateway_upstream_retries_total', 'Connection retries to model servers', r);
    this.usagePrompt = new LabelledCounter(
      'vllm_gateway_usage_prompt_tokens_total',
      'Prompt tokens of proxied responses that carried usage',
      r,
    );
    this.usageCompletion = new LabelledCounter(
      'vllm_gateway_usage_completion_tokens_total',
      'Completion tokens of proxied responses that carried usage',
      r,
    );
    const models = perModelSeries(r, () => scheduler.entries.keys());
    const queueOf = (id: string) => scheduler.entries.get(id)?.queue;
    models.gauge(
      'vllm_gateway_model_queued_requests',
      'Requests waiting for a slot or for the model to start',
      (id) => queueOf(id)?.queued ?? null,
    );
    models.gauge('vllm_gateway_model_in_flight_requests', 'Requests being proxied', (id) => queueOf(id)?.inFlight.size ?? null);
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
      help: 'Models stopped to make room for another (not those put to sleep instead)',
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

  /** The engines' figures, re-exported per model (series absent while a model has none). */
  registerEngine(source: EngineMetricsSource): void {
    const r = this.registry;
    const ids = () => this.scheduler.entries.keys();
    const models = perModelSeries(r, ids);
    const figure = (name: string, help: string, pick: (e: EngineStatus) => number | null) =>
      models.gauge(name, help, (id) => {
        const e = source.engine(id);
        return e ? pick(e) : null;
      });
    models.gauge('vllm_gateway_engine_up', '1 when the model server answered its last metrics scrape with figures, else 0', (id) =>
      source.engine(id) ? 1 : 0,
    );
    figure('vllm_gateway_engine_requests_running', 'Requests the engine is running (vllm:num_requests_running)', (e) => e.running);
    figure('vllm_gateway_engine_requests_waiting', 'Requests the engine holds back (vllm:num_requests_waiting)', (e) => e.waiting);
    figure('vllm_gateway_engine_kv_cache_usage_ratio', 'KV-cache usage, 1 = full (vllm:kv_cache_usage_perc)', (e) =>
      e.kvCacheUsagePercent === null ? null : e.kvCacheUsagePercent / 100,
    );
    figure('vllm_gateway_engine_prompt_tokens_per_second', 'Prompt tokens/s over the last poll interval', (e) => e.promptTokensPerSecond);
    figure(
      'vllm_gateway_engine_generation_tokens_per_second',
      'Generation tokens/s over the last poll interval',
      (e) => e.generationTokensPerSecond,
    );
    new Gauge({
      name: 'vllm_gateway_engine_sleep_state',
      help: '1 for the sleep state the engine reports (vllm:engine_sleep_state)',
      labelNames: ['model', 'state'],
      registers: [r],
      collect() {
        this.reset();
        for (const id of ids()) {
          const s = source.engine(id)?.sleepState;
          if (s) for (const state of ['awake', 'weights_offloaded', 'discard_all']) this.set({ model: id, state }, s === state ? 1 : 0);
        }
      },
    });
    const tokens = (name: string, help: string, pick: (t: { promptTokensSeen: number; generationTokensSeen: number }) => number) =>
      models.counter(name, help, (id) => {
        const t = source.tokensSeen(id);
        return t ? pick(t) : null;
      });
    tokens(
      'vllm_gateway_engine_prompt_tokens_total',
      'Prompt tokens the engine counted while the gateway watched it',
      (t) => t.promptTokensSeen,
    );
    tokens(
      'vllm_gateway_engine_generation_tokens_total',
      'Generation tokens the engine counted while the gateway watched it',
      (t) => t.generationTokensSeen,
    );
  }
}
