// Retry policy (pure; docs/reliability.md P1–P3). A POST to a model server is retried only when the
// server cannot have received it: the TCP connection was never established. A reset after the
// connection was made is NOT retried, because the server may already be generating (nginx
// `proxy_next_upstream` and Envoy `reset-before-request` draw the same line).

/** Error codes meaning "no connection was made, so nothing was sent". */
const NEVER_SENT_CODES = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

export function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  if (e && typeof e.code === 'string') return e.code;
  if (e?.cause && typeof e.cause.code === 'string') return e.cause.code;
  return undefined;
}

export function neverReachedUpstream(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && NEVER_SENT_CODES.has(code);
}

export interface RetrySettings {
  maxAttempts: number;
  initialDelaySeconds: number;
  backoff: number;
}

/**
 * The wait in ms before attempt `attempt + 1` (attempts count from 1), with ±10 % jitter:
 * initialDelay × backoff^(attempt−1). `random` is injectable for tests.
 */
export function retryDelayMs(settings: RetrySettings, attempt: number, random: () => number = Math.random): number {
  const base = settings.initialDelaySeconds * 1000 * settings.backoff ** (attempt - 1);
  const jitter = 1 + (random() * 2 - 1) * 0.1;
  return Math.max(0, Math.round(base * jitter));
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/**
 * Decide after a failed attempt. `deadline` (epoch ms) bounds the whole sequence (P3): a retry whose
 * wait would end past it is not attempted.
 */
export function decideRetry(
  settings: RetrySettings,
  attempt: number,
  err: unknown,
  now: number,
  deadline: number,
  random: () => number = Math.random,
): RetryDecision {
  if (attempt >= settings.maxAttempts) return { retry: false };
  if (!neverReachedUpstream(err)) return { retry: false };
  const delayMs = retryDelayMs(settings, attempt, random);
  if (now + delayMs >= deadline) return { retry: false };
  return { retry: true, delayMs };
}
