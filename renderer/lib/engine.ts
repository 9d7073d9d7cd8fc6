// Pure helpers for the engine figures (status document `engine`, GET /gateway/history).
import type { EngineStatus, ModelStatus } from '../../gateway/status-types.js';

/** KV cache at or above this with requests waiting: the engine is saturated. */
export const SATURATED_KV_PERCENT = 90;

/**
 * The engine holds requests back because its KV cache is full: more concurrency from the gateway
 * (maxConcurrent) only lengthens the engine's own queue.
 */
export function isSaturated(e: EngineStatus | null | undefined): boolean {
  return !!e && (e.waiting ?? 0) > 0 && (e.kvCacheUsagePercent ?? 0) >= SATURATED_KV_PERCENT;
}

/** Tokens per second, to one decimal below 10 and whole above. */
export function tokensPerSecond(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return v < 10 ? v.toFixed(1) : String(Math.round(v));
}

/** Sum of the models' generation rates (null when no model reports one). */
export function totalTokensPerSecond(models: readonly ModelStatus[]): number | null {
  let total: number | null = null;
  for (const m of models) {
    const v = m.engine?.generationTokensPerSecond;
    if (typeof v === 'number') total = (total ?? 0) + v;
  }
  return total;
}

/** A round upper bound for a chart's y axis: 1, 2, 5 × 10^n at or above `v`. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * An SVG path through the values (x evenly spaced over `width`, y from 0 at the bottom to `max` at
 * the top); a null value breaks the line.
 */
export function linePath(values: ReadonlyArray<number | null>, width: number, height: number, max: number): string {
  if (values.length === 0) return '';
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    const x = values.length > 1 ? i * step : width;
    const y = height - (Math.max(0, Math.min(v, max)) / (max || 1)) * height;
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  });
  return d;
}
