// How long a host connection waits before its next attempt: exponential from `initialMs`, capped at
// `maxMs`, with "equal jitter" (half fixed, half random) so several gateways that lost the same host
// do not all knock at once. Pure: the random source is a parameter.

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
}

export const DEFAULT_HOST_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2 };

/**
 * The delay before attempt `failures + 1`, after `failures` (≥ 1) attempts in a row failed.
 * `random` returns a number in [0, 1).
 */
export function reconnectDelayMs(policy: BackoffPolicy, failures: number, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(failures));
  const base = Math.min(policy.maxMs, policy.initialMs * (policy.factor ?? 2) ** (n - 1));
  const half = base / 2;
  return Math.round(half + half * Math.min(Math.max(random(), 0), 1));
}
