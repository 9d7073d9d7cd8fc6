// When an idle model is stopped (pure). A model is stopped `ttlSeconds` after its last request
// ended (or after it became ready, if unused since); never while it has requests in flight or
// queued (P10), never when pinned or with a TTL of 0. The inputs are the facts, so that a TTL
// coming from somewhere else (a request's keep_alive) is one more input, not another timer.

export interface IdleFacts {
  ready: boolean;
  busy: boolean;
  pinned: boolean;
  remote: boolean;
  ttlSeconds: number;
  /**
   * The keep_alive of the model's last request (Ollama routes), in seconds: in force instead of
   * ttlSeconds until the next request ends. 0 = stop as soon as idle; Infinity = never; null = none.
   */
  keepAliveSeconds: number | null;
  /** Epoch ms: the last request's end, or when it became ready. */
  lastActivity: number;
}

/**
 * Go's longest time.Duration (math.MaxInt64 ns, ~292 years): the longest `keep_alive` Ollama's
 * parser takes, and the longest TTL that is a deadline (any longer is never, not a date past what
 * Date can hold).
 */
export const GO_MAX_DURATION_SECONDS = 2 ** 63 / 1e9;

/** Idle seconds before the model is stopped; Infinity = never. A pinned model ignores keep_alive, 0 included. */
export function idleTtlSeconds(f: Pick<IdleFacts, 'pinned' | 'remote' | 'ttlSeconds' | 'keepAliveSeconds'>): number {
  if (f.pinned || f.remote) return Infinity;
  const ttl = f.keepAliveSeconds ?? (f.ttlSeconds > 0 ? f.ttlSeconds : Infinity);
  return ttl > GO_MAX_DURATION_SECONDS ? Infinity : ttl;
}

/** Epoch ms at which the model is due to stop for idleness, or null when it never is (now). */
export function idleStopAt(f: IdleFacts): number | null {
  const ttl = idleTtlSeconds(f);
  if (!f.ready || f.busy || ttl === Infinity) return null;
  return f.lastActivity + ttl * 1000;
}
