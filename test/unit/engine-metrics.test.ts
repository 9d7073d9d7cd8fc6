// Engine figures from vLLM's /metrics: parsing (fixtures written from vLLM's metric families,
// both KV-cache names), rates from counters (a restarted server included), the scraper's rules
// (what it scrapes, what it drops) and the history ring's bounds.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { counterIncrease, nextEngineTrack } from '../../gateway/engine/engine-rates.js';
import { EngineScraper, metricsUrl, type ScrapeTarget } from '../../gateway/engine/engine-scraper.js';
import { History, WINDOW_SECONDS } from '../../gateway/engine/history.js';
import { parseEngineMetrics, type EngineReading } from '../../gateway/engine/parse-engine-metrics.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (name: string) => readFileSync(path.join(here, '../fixtures/vllm-metrics', name), 'utf8');

describe('parseEngineMetrics', () => {
  it('reads a current vLLM server (kv_cache_usage_perc, engine label, sleep state)', () => {
    expect(parseEngineMetrics(fixture('kv-cache-usage-perc.txt'))).toEqual({
      running: 3,
      waiting: 2,
      kvCacheUsage: 0.4375,
      promptTokensTotal: 48213,
      generationTokensTotal: 91377,
      sleepState: 'awake',
    });
  });

  it('reads an older server: gpu_cache_usage_perc, no engine label, no sleep-state family', () => {
    expect(parseEngineMetrics(fixture('gpu-cache-usage-perc.txt'))).toEqual({
      running: 3,
      waiting: 2,
      kvCacheUsage: 0.4375,
      promptTokensTotal: 48213,
      generationTokensTotal: 91377,
      sleepState: null,
    });
  });

  it('prefers the new KV-cache name when a server exports both', () => {
    const text = 'vllm:gpu_cache_usage_perc{model_name="m"} 0.9\nvllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25\n';
    expect(parseEngineMetrics(text)?.kvCacheUsage).toBe(0.25);
  });

  it('sums counts and tokens over data-parallel engines and averages the KV cache', () => {
    const text = [
      '# TYPE vllm:num_requests_running gauge',
      'vllm:num_requests_running{engine="0",model_name="m"} 2.0',
      'vllm:num_requests_running{engine="1",model_name="m"} 5.0',
      '# TYPE vllm:kv_cache_usage_perc gauge',
      'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.2',
      'vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.6',
      '# TYPE vllm:generation_tokens_total counter',
      'vllm:generation_tokens_total{engine="0",model_name="m"} 100.0',
      'vllm:generation_tokens_total{engine="1",model_name="m"} 50.0',
      '# TYPE vllm:engine_sleep_state gauge',
      'vllm:engine_sleep_state{engine="0",model_name="m",sleep_state="awake"} 0.0',
      'vllm:engine_sleep_state{engine="0",model_name="m",sleep_state="weights_offloaded"} 1.0',
      'vllm:engine_sleep_state{engine="1",model_name="m",sleep_state="awake"} 0.0',
      'vllm:engine_sleep_state{engine="1",model_name="m",sleep_state="discard_all"} 1.0',
      '',
    ].join('\n');
    const r = parseEngineMetrics(text)!;
    expect(r.running).toBe(7);
    expect(r.kvCacheUsage).toBeCloseTo(0.4, 10);
    expect(r.generationTokensTotal).toBe(150);
    expect(r.waiting).toBeNull();
    expect(r.sleepState).toBe('discard_all');
  });

  it('reads a counter written under a TYPE line without _total (older prometheus_client)', () => {
    const text = '# TYPE vllm:prompt_tokens counter\nvllm:prompt_tokens_total{model_name="m"} 12.0\n';
    expect(parseEngineMetrics(text)?.promptTokensTotal).toBe(12);
  });

  it('is null for servers that are not vLLM, and for text that is not Prometheus', () => {
    const nodeApp = '# HELP process_cpu_seconds_total CPU\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n';
    const llamaCpp = '# TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total 10\n';
    expect(parseEngineMetrics(nodeApp)).toBeNull();
    expect(parseEngineMetrics(llamaCpp)).toBeNull();
    expect(parseEngineMetrics('<html><body>Not Found</body></html>')).toBeNull();
    expect(parseEngineMetrics('{"detail":"Not Found"}')).toBeNull();
    expect(parseEngineMetrics('')).toBeNull();
  });

  it('reads only the families it knows: look-alike names (by-reason gauges, _created samples) are not summed in', () => {
    const text = [
      '# TYPE vllm:num_requests_waiting gauge',
      'vllm:num_requests_waiting{engine="0",model_name="m"} 4.0',
      '# TYPE vllm:num_requests_waiting_by_reason gauge',
      'vllm:num_requests_waiting_by_reason{engine="0",model_name="m",reason="capacity"} 3.0',
      'vllm:num_requests_waiting_by_reason{engine="0",model_name="m",reason="deferred"} 1.0',
      '# TYPE vllm:generation_tokens_total counter',
      'vllm:generation_tokens_total{engine="0",model_name="m"} 10.0',
      '# TYPE vllm:generation_tokens_created gauge',
      'vllm:generation_tokens_created{engine="0",model_name="m"} 1.76e+09',
      '',
    ].join('\n');
    expect(parseEngineMetrics(text)).toMatchObject({ waiting: 4, generationTokensTotal: 10 });
  });

  it('ignores samples that are not numbers', () => {
    const text = 'vllm:num_requests_running{model_name="m"} NaN\nvllm:num_requests_waiting{model_name="m"} 1\n';
    expect(parseEngineMetrics(text)).toMatchObject({ running: null, waiting: 1 });
  });
});

const reading = (over: Partial<EngineReading> = {}): EngineReading => ({
  running: 1,
  waiting: 0,
  kvCacheUsage: 0.125,
  promptTokensTotal: 0,
  generationTokensTotal: 0,
  sleepState: 'awake',
  ...over,
});

describe('rates from counters', () => {
  it('counterIncrease: growth, a reset (the new value), unknowns', () => {
    expect(counterIncrease(100, 150)).toBe(50);
    expect(counterIncrease(100, 30)).toBe(30);
    expect(counterIncrease(null, 30)).toBeNull();
    expect(counterIncrease(30, null)).toBeNull();
  });

  it('null rates on the first reading, per-second rates from the second on', () => {
    const t0 = nextEngineTrack(null, reading({ promptTokensTotal: 1000, generationTokensTotal: 500 }), 10_000);
    expect(t0.status).toEqual({
      running: 1,
      waiting: 0,
      kvCacheUsagePercent: 12.5,
      promptTokensPerSecond: null,
      generationTokensPerSecond: null,
      sleepState: 'awake',
    });
    const t1 = nextEngineTrack(t0, reading({ promptTokensTotal: 1600, generationTokensTotal: 750 }), 12_000);
    expect(t1.status.promptTokensPerSecond).toBe(300);
    expect(t1.status.generationTokensPerSecond).toBe(125);
    expect(t1.generationTokensSeen).toBe(250);
  });

  it('a restarted server (counters back near zero) gives the new count as the increase, never a negative rate', () => {
    const t0 = nextEngineTrack(null, reading({ generationTokensTotal: 90_000 }), 0);
    const t1 = nextEngineTrack(t0, reading({ generationTokensTotal: 90_400 }), 1000);
    const t2 = nextEngineTrack(t1, reading({ generationTokensTotal: 40 }), 2000);
    expect(t2.status.generationTokensPerSecond).toBe(40);
    expect(t2.generationTokensSeen).toBe(440);
    const t3 = nextEngineTrack(t2, reading({ generationTokensTotal: 140 }), 2500);
    expect(t3.status.generationTokensPerSecond).toBe(200);
  });

  it('a family the server lacks gives a null rate; totals carry over to a new track', () => {
    const t0 = nextEngineTrack(null, reading({ promptTokensTotal: null }), 0, { promptTokensSeen: 7, generationTokensSeen: 9 });
    const t1 = nextEngineTrack(t0, reading({ promptTokensTotal: null, generationTokensTotal: 10 }), 1000);
    expect(t1.status.promptTokensPerSecond).toBeNull();
    expect(t1.status.generationTokensPerSecond).toBe(10);
    expect(t1).toMatchObject({ promptTokensSeen: 7, generationTokensSeen: 19 });
  });
});

describe('metricsUrl', () => {
  it('beside the API: origin, base path kept, a trailing /v1 dropped', () => {
    expect(metricsUrl('http://127.0.0.1:49153')).toBe('http://127.0.0.1:49153/metrics');
    expect(metricsUrl('http://h:9000/v1')).toBe('http://h:9000/metrics');
    expect(metricsUrl('https://h/prefix/v1/')).toBe('https://h/prefix/metrics');
  });
});

/** A fetch whose answers the test releases one by one. */
function controlledFetch() {
  const calls: Array<{ url: string; resolve: (text: string) => void; reject: (e: Error) => void }> = [];
  const fetch = (url: string) => new Promise<string>((resolve, reject) => calls.push({ url, resolve, reject }));
  return { calls, fetch };
}
const flush = () => new Promise((r) => setImmediate(r));

describe('EngineScraper', () => {
  const metricsText = (gen: number) => `vllm:num_requests_running{model_name="m"} 1\nvllm:generation_tokens_total{model_name="m"} ${gen}\n`;

  it('scrapes ready and sleeping models only, one scrape in flight per model', async () => {
    let targets: ScrapeTarget[] = [
      { id: 'ready', state: 'ready', endpoint: 'http://127.0.0.1:1', scrape: true },
      { id: 'sleeping', state: 'sleeping', endpoint: 'http://127.0.0.1:2', scrape: true },
      { id: 'starting', state: 'starting', endpoint: 'http://127.0.0.1:3', scrape: true },
      { id: 'stopped', state: 'stopped', endpoint: null, scrape: true },
      { id: 'remote', state: 'ready', endpoint: 'http://10.0.0.1:9000/v1', scrape: false },
    ];
    const f = controlledFetch();
    const s = new EngineScraper({ targets: () => targets, pollMs: 1000, fetch: f.fetch });
    s.tick();
    s.tick(); // the first scrapes are still in flight: no second one
    expect(f.calls.map((c) => c.url)).toEqual(['http://127.0.0.1:1/metrics', 'http://127.0.0.1:2/metrics']);
    f.calls[0].resolve(metricsText(10));
    f.calls[1].resolve(metricsText(0));
    await flush();
    expect(s.engine('ready')).toMatchObject({ running: 1, generationTokensPerSecond: null });
    expect(s.engine('starting')).toBeNull();
    expect(s.engine('remote')).toBeNull();
    targets = targets.map((t) => (t.id === 'remote' ? { ...t, scrape: true } : t));
    s.tick();
    expect(f.calls.map((c) => c.url).slice(2)).toEqual([
      'http://127.0.0.1:1/metrics',
      'http://127.0.0.1:2/metrics',
      'http://10.0.0.1:9000/metrics',
    ]);
  });

  it('drops a reading that arrives after its model stopped, and forgets the model', async () => {
    let state = 'ready';
    const f = controlledFetch();
    let changes = 0;
    const s = new EngineScraper({
      targets: () => [{ id: 'm', state, endpoint: 'http://127.0.0.1:1', scrape: true }],
      pollMs: 1000,
      fetch: f.fetch,
      onChange: () => changes++,
    });
    s.tick();
    f.calls[0].resolve(metricsText(5));
    await flush();
    expect(s.engine('m')).not.toBeNull();
    s.tick(); // second scrape in flight...
    state = 'stopped';
    s.tick(); // ...the model stops: figures gone at once
    expect(s.engine('m')).toBeNull();
    f.calls[1].resolve(metricsText(50));
    await flush();
    expect(s.engine('m')).toBeNull();
    expect(f.calls).toHaveLength(2);
    expect(changes).toBe(2); // figures appeared, then went
  });

  it('a new instance (another endpoint) starts a new track: no rate across two servers', async () => {
    let endpoint = 'http://127.0.0.1:1';
    const f = controlledFetch();
    let now = 0;
    const s = new EngineScraper({
      targets: () => [{ id: 'm', state: 'ready', endpoint, scrape: true }],
      pollMs: 1000,
      fetch: f.fetch,
      now: () => now,
    });
    s.tick();
    f.calls[0].resolve(metricsText(1000));
    await flush();
    now = 1000;
    endpoint = 'http://127.0.0.1:2';
    s.tick();
    f.calls[1].resolve(metricsText(5));
    await flush();
    expect(f.calls[1].url).toBe('http://127.0.0.1:2/metrics');
    expect(s.engine('m')?.generationTokensPerSecond).toBeNull();
    now = 2000;
    s.tick();
    f.calls[2].resolve(metricsText(25));
    await flush();
    expect(s.engine('m')?.generationTokensPerSecond).toBe(20);
  });

  it('a failed or unusable scrape makes engine null; the next good one has a rate again', async () => {
    const f = controlledFetch();
    let now = 0;
    const s = new EngineScraper({
      targets: () => [{ id: 'm', state: 'ready', endpoint: 'http://127.0.0.1:1', scrape: true }],
      pollMs: 1000,
      fetch: f.fetch,
      now: () => now,
    });
    s.tick();
    f.calls[0].resolve(metricsText(100));
    await flush();
    now = 1000;
    s.tick();
    f.calls[1].reject(new Error('timeout'));
    await flush();
    expect(s.engine('m')).toBeNull();
    now = 2000;
    s.tick();
    f.calls[2].resolve('<html>oops</html>');
    await flush();
    expect(s.engine('m')).toBeNull();
    now = 4000;
    s.tick();
    f.calls[3].resolve(metricsText(300));
    await flush();
    expect(s.engine('m')?.generationTokensPerSecond).toBe(50); // 200 tokens over the 4 s since the last good reading
  });
});

describe('History', () => {
  const sample = (at: number, used: number, tps: number | null) => ({
    at,
    gpus: [{ index: 0, name: 'GPU', totalMiB: 1000, usedMiB: used }],
    models: new Map([['a', tps]]),
  });

  it('keeps at most the window at the poll interval, oldest first', () => {
    const h = new History(1, ['a', 'b']);
    expect(h.capacity).toBe(WINDOW_SECONDS + 1);
    for (let i = 0; i < 1000; i++) h.record(sample(i * 1000, i, i % 2 ? 5 : null));
    const doc = h.document(999_000);
    expect(doc.at).toHaveLength(300); // (699 s, 999 s]: the last 5 minutes
    expect(doc.at[0]).toBe(700_000);
    expect(doc.at[299]).toBe(999_000);
    expect(doc.gpus).toEqual([{ index: 0, name: 'GPU', totalMiB: 1000, usedMiB: doc.at.map((t) => t / 1000) }]);
    expect(doc.models.map((m) => m.id)).toEqual(['a', 'b']);
    expect(doc.models[0].generationTokensPerSecond.slice(0, 2)).toEqual([null, 5]);
    expect(doc.models[1].generationTokensPerSecond.every((v) => v === null)).toBe(true);
    expect(doc).toMatchObject({ intervalSeconds: 1, windowSeconds: 300 });
  });

  it('a shorter window, a slower poll, and samples from the future left out', () => {
    const h = new History(5, ['a']);
    expect(h.capacity).toBe(61);
    for (let i = 0; i <= 100; i++) h.record(sample(i * 5000, i, 1));
    expect(h.document(500_000, 30).at).toEqual([475_000, 480_000, 485_000, 490_000, 495_000, 500_000]);
    expect(h.document(490_000, 10).at).toEqual([485_000, 490_000]);
    expect(h.document(500_000, 10_000).at).toHaveLength(60); // asking for more than the window gets the window
  });

  it('empty before the first sample', () => {
    expect(new History(1, ['a']).document(0)).toEqual({
      intervalSeconds: 1,
      windowSeconds: 300,
      at: [],
      gpus: [],
      models: [{ id: 'a', generationTokensPerSecond: [] }],
    });
  });
});
