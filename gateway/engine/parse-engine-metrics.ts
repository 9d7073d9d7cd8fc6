// Reads the figures the gateway shows from a model server's Prometheus text (`GET /metrics`).
// Parsing is parse-prometheus-text-format's; this module only picks vLLM's families, as
// vLLM's PrometheusStatLogger (vllm-project/vllm, vllm/v1/metrics/loggers.py) defines them:
//   vllm:num_requests_running, vllm:num_requests_waiting        gauges
//   vllm:kv_cache_usage_perc (a fraction, 1 = full)              gauge; before 0.9 (and until its
//     removal in vllm-project/vllm#29330) vllm:gpu_cache_usage_perc
//   vllm:prompt_tokens_total, vllm:generation_tokens_total       counters
//   vllm:engine_sleep_state{sleep_state="awake"|"weights_offloaded"|"discard_all"}  gauge, 1 = in force
// A data-parallel server reports one sample per `engine` label: counts and tokens are summed,
// the KV-cache figure averaged (as vLLM's own logging aggregates it). A missing family is null;
// text with none of them (another kind of server, an HTML page) is not a reading at all.
//
// A real vLLM page is 30–100 KiB, nearly all histograms the gateway does not show: the lines of
// the families it reads are picked out first (their samples, HELP and TYPE lines), so the parser
// sees a few hundred bytes and a scrape costs tens of microseconds, not milliseconds.

import parsePrometheus from 'parse-prometheus-text-format';
import type { EngineSleepState } from '../status-types.js';

export interface EngineReading {
  running: number | null;
  waiting: number | null;
  /** 0–1 (vLLM's unit); the status document shows percent. */
  kvCacheUsage: number | null;
  promptTokensTotal: number | null;
  generationTokensTotal: number | null;
  sleepState: EngineSleepState | null;
}

type Sample = { value?: string; labels?: Record<string, string> };

const SLEEP_STATES: readonly EngineSleepState[] = ['awake', 'weights_offloaded', 'discard_all'];

/** The sample names read (a counter is `_total` in current servers, bare in some older ones). */
const WANTED = new Set([
  'vllm:num_requests_running',
  'vllm:num_requests_waiting',
  'vllm:kv_cache_usage_perc',
  'vllm:gpu_cache_usage_perc',
  'vllm:prompt_tokens_total',
  'vllm:prompt_tokens',
  'vllm:generation_tokens_total',
  'vllm:generation_tokens',
  'vllm:engine_sleep_state',
]);

/** The sample and `# TYPE` lines of the families read (HELP lines and everything else left out). */
export function wantedLines(text: string): string {
  let out = '';
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const at = text.startsWith('vllm:', start) ? start : text.startsWith('# TYPE vllm:', start) ? start + 7 : -1;
    if (at >= 0) {
      let nameEnd = at + 5;
      while (nameEnd < end) {
        const c = text.charCodeAt(nameEnd);
        if (c === 0x7b /* { */ || c === 0x20 || c === 0x09) break;
        nameEnd++;
      }
      if (WANTED.has(text.slice(at, nameEnd))) out += text.slice(start, end) + '\n';
    }
    start = end + 1;
  }
  return out;
}

/** Returns null when the text holds none of vLLM's families (or is not Prometheus text). */
export function parseEngineMetrics(text: string): EngineReading | null {
  let families: ReturnType<typeof parsePrometheus>;
  try {
    families = parsePrometheus(wantedLines(text));
  } catch {
    return null;
  }
  // Samples by their own name: prometheus_client writes a counter's TYPE line either with or
  // without `_total` depending on the version, so families are not matched by their header.
  const byName = new Map<string, Sample[]>();
  for (const f of families) {
    if (!f.name.startsWith('vllm:')) continue;
    const list = byName.get(f.name) ?? [];
    for (const m of f.metrics as Sample[]) if (m.value !== undefined) list.push(m);
    byName.set(f.name, list);
  }
  const values = (name: string): number[] | null => {
    const list = byName.get(name);
    if (!list || list.length === 0) return null;
    const out = list.map((s) => Number(s.value)).filter((v) => Number.isFinite(v));
    return out.length ? out : null;
  };
  const sum = (name: string) => {
    const v = values(name);
    return v ? v.reduce((a, b) => a + b, 0) : null;
  };
  const mean = (name: string) => {
    const v = values(name);
    return v ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };

  const reading: EngineReading = {
    running: sum('vllm:num_requests_running'),
    waiting: sum('vllm:num_requests_waiting'),
    kvCacheUsage: mean('vllm:kv_cache_usage_perc') ?? mean('vllm:gpu_cache_usage_perc'),
    promptTokensTotal: sum('vllm:prompt_tokens_total') ?? sum('vllm:prompt_tokens'),
    generationTokensTotal: sum('vllm:generation_tokens_total') ?? sum('vllm:generation_tokens'),
    sleepState: sleepState(byName.get('vllm:engine_sleep_state')),
  };
  const any = Object.values(reading).some((v) => v !== null);
  return any ? reading : null;
}

/** The state whose sample is 1; with several engines, the deepest sleep any of them is in. */
function sleepState(samples: Sample[] | undefined): EngineSleepState | null {
  if (!samples) return null;
  let found: EngineSleepState | null = null;
  for (const s of samples) {
    const state = s.labels?.sleep_state as EngineSleepState | undefined;
    if (!state || !SLEEP_STATES.includes(state) || Number(s.value) !== 1) continue;
    if (found === null || SLEEP_STATES.indexOf(state) > SLEEP_STATES.indexOf(found)) found = state;
  }
  return found;
}
