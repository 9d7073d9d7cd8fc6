// Status change notifications: subscribers get the status document on every change, coalesced
// to at most 4 a second, and at least every 5 s (docs/http-api.md /gateway/events, docs/desktop.md onStatus).

import type { StatusDocument } from './status-types.js';

const MIN_INTERVAL_MS = 250;
const HEARTBEAT_MS = 5000;

export class StatusHub {
  private readonly subscribers = new Set<(doc: StatusDocument) => void>();
  private lastSent = 0;
  private pending: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly build: () => StatusDocument) {}

  subscribe(cb: (doc: StatusDocument) => void): () => void {
    this.subscribers.add(cb);
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => this.flush(), HEARTBEAT_MS);
      this.heartbeat.unref();
    }
    return () => {
      this.subscribers.delete(cb);
      if (this.subscribers.size === 0 && this.heartbeat) {
        clearInterval(this.heartbeat);
        this.heartbeat = null;
      }
    };
  }

  /** Something changed: send soon, but not more often than every 250 ms. */
  changed(): void {
    if (this.pending || this.subscribers.size === 0) return;
    const wait = Math.max(0, this.lastSent + MIN_INTERVAL_MS - Date.now());
    this.pending = setTimeout(() => this.flush(), wait);
    this.pending.unref();
  }

  private flush(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = null;
    if (this.subscribers.size === 0) return;
    this.lastSent = Date.now();
    const doc = this.build();
    for (const cb of this.subscribers) {
      try {
        cb(doc);
      } catch {
        /* a subscriber's failure must not stop the others */
      }
    }
  }

  close(): void {
    if (this.pending) clearTimeout(this.pending);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.subscribers.clear();
  }
}
