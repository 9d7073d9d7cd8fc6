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
  /** Epoch ms: the last request's end, or when it became ready. */
  lastActivity: number;
}

/** Epoch ms at which the model is due to stop for idleness, or null when it never is (now). */
export function idleStopAt(f: IdleFacts): number | null {
  if (!f.ready || f.busy || f.pinned || f.remote || f.ttlSeconds <= 0) return null;
  return f.lastActivity + f.ttlSeconds * 1000;
}
