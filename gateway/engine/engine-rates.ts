// From successive readings of one server to the status document's `engine` figures: rates from
// the token counters over the last interval, and running totals the gateway re-exports.
// Pure: the caller passes the time of each reading.
//
// A counter that went down means the server restarted behind the same address (its counters
// start again at zero): as Prometheus' rate() does, the increase over that interval is taken to
// be the new value itself, never a negative rate.

import type { EngineStatus } from '../status-types.js';
import type { EngineReading } from './parse-engine-metrics.js';

export interface EngineTrack {
  at: number;
  reading: EngineReading;
  status: EngineStatus;
  /** Tokens counted since the gateway first saw this model (across restarts), for /metrics. */
  promptTokensSeen: number;
  generationTokensSeen: number;
}

/** How much a counter grew from `prev` to `cur` (a drop is a reset: the growth is `cur`). */
export function counterIncrease(prev: number | null, cur: number | null): number | null {
  if (prev === null || cur === null) return null;
  return cur >= prev ? cur - prev : cur;
}

const round1 = (v: number) => Math.round(v * 10) / 10;

function rate(prev: number | null, cur: number | null, seconds: number): number | null {
  const inc = counterIncrease(prev, cur);
  return inc === null || seconds <= 0 ? null : round1(inc / seconds);
}

/**
 * The next track for a model given a new reading at `at` (epoch ms). `prev` is the last track of
 * the same server, or null when there is none (first reading, or a new instance): rates are then
 * null. Running totals carry over from `totals` when the track restarts.
 */
export function nextEngineTrack(
  prev: EngineTrack | null,
  reading: EngineReading,
  at: number,
  totals: { promptTokensSeen: number; generationTokensSeen: number } = { promptTokensSeen: 0, generationTokensSeen: 0 },
): EngineTrack {
  const seconds = prev ? (at - prev.at) / 1000 : 0;
  const p = prev?.reading ?? null;
  const status: EngineStatus = {
    running: reading.running,
    waiting: reading.waiting,
    kvCacheUsagePercent: reading.kvCacheUsage === null ? null : round1(reading.kvCacheUsage * 100),
    promptTokensPerSecond: p ? rate(p.promptTokensTotal, reading.promptTokensTotal, seconds) : null,
    generationTokensPerSecond: p ? rate(p.generationTokensTotal, reading.generationTokensTotal, seconds) : null,
    sleepState: reading.sleepState,
  };
  const base = prev ?? totals;
  return {
    at,
    reading,
    status,
    promptTokensSeen: base.promptTokensSeen + (p ? (counterIncrease(p.promptTokensTotal, reading.promptTokensTotal) ?? 0) : 0),
    generationTokensSeen:
      base.generationTokensSeen + (p ? (counterIncrease(p.generationTokensTotal, reading.generationTokensTotal) ?? 0) : 0),
  };
}

/** Status figures equal? (to notify status subscribers only when something they show changed). */
export function sameEngineStatus(a: EngineStatus | null, b: EngineStatus | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.running === b.running &&
    a.waiting === b.waiting &&
    a.kvCacheUsagePercent === b.kvCacheUsagePercent &&
    a.promptTokensPerSecond === b.promptTokensPerSecond &&
    a.generationTokensPerSecond === b.generationTokensPerSecond &&
    a.sleepState === b.sleepState
  );
}
