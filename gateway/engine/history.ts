// The short history behind GET /gateway/history: one sample per poll interval of GPU memory per
// GPU and generation tokens/s per model, for the last WINDOW_SECONDS, in a ring of fixed size.
// Kept apart from the status document so that document stays small.

import type { HistoryDocument } from '../status-types.js';

export const WINDOW_SECONDS = 300;

export interface HistorySample {
  at: number;
  gpus: Array<{ index: number; name: string; totalMiB: number; usedMiB: number; label?: string }>;
  /** generation tokens/s by model id (null: no engine figures at that moment). */
  models: Map<string, number | null>;
}

export class History {
  readonly capacity: number;
  private readonly ring: HistorySample[] = [];
  private head = 0;

  constructor(
    readonly intervalSeconds: number,
    /** Model ids in config order: every model gets a series, so charts keep their places. */
    private readonly modelIds: readonly string[],
  ) {
    this.capacity = Math.max(2, Math.ceil(WINDOW_SECONDS / intervalSeconds) + 1);
  }

  record(sample: HistorySample): void {
    if (this.ring.length < this.capacity) this.ring.push(sample);
    else {
      this.ring[this.head] = sample;
      this.head = (this.head + 1) % this.capacity;
    }
  }

  /** Samples oldest first, at most `seconds` old (relative to `now`), as the route's document. */
  document(now: number, seconds = WINDOW_SECONDS): HistoryDocument {
    const since = now - Math.min(seconds, WINDOW_SECONDS) * 1000;
    const ordered = [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)].filter((s) => s.at > since && s.at <= now);
    // GPUs as the newest sample lists them; an older sample without that GPU gives null.
    const newest = ordered[ordered.length - 1];
    const gpus = (newest?.gpus ?? []).map((g) => ({
      index: g.index,
      name: g.name,
      ...(g.label ? { label: g.label } : {}),
      totalMiB: g.totalMiB,
      usedMiB: ordered.map((s) => s.gpus.find((x) => x.index === g.index)?.usedMiB ?? null),
    }));
    return {
      intervalSeconds: this.intervalSeconds,
      windowSeconds: WINDOW_SECONDS,
      at: ordered.map((s) => s.at),
      gpus,
      models: this.modelIds.map((id) => ({ id, generationTokensPerSecond: ordered.map((s) => s.models.get(id) ?? null) })),
    };
  }
}
