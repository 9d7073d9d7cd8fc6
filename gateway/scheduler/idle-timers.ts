// One idle timer per model at most (P10: never stopped while busy). It is armed when the model goes
// idle and, when it fires, re-checks use and re-arms itself for the remaining time, so busy traffic
// costs no timer operations. When the model stops is idle-policy.ts's decision; the stop is the
// scheduler's (`onDue`). The timers are kept here, not on the model's entry.

import { idleStopAt } from './idle-policy.js';
import type { ModelEntry } from './model-entry.js';

/** The longest delay a Node timer takes (2^31 − 1 ms, 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

export class IdleTimers {
  /** The armed timers: the timers' own bookkeeping, not the model's state. */
  private readonly timers = new Map<ModelEntry, NodeJS.Timeout>();

  constructor(
    private readonly now: () => number,
    private readonly onDue: (entry: ModelEntry) => void,
  ) {}

  clear(entry: ModelEntry): void {
    const t = this.timers.get(entry);
    if (t) clearTimeout(t);
    this.timers.delete(entry);
  }

  /** Arm the model's timer for when idle-policy.ts says it is due, unless one is armed already. */
  arm(entry: ModelEntry): void {
    if (this.timers.has(entry)) return;
    const due = idleStopAt(entry.idleFacts);
    if (due === null) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(entry);
        const at = idleStopAt(entry.idleFacts);
        if (at === null) return; // re-armed when it goes idle
        if (at > this.now() + 5) return this.arm(entry);
        this.onDue(entry);
      },
      // A deadline past a timer's reach (a keep_alive of "720h") is approached in steps: the
      // callback above re-arms for what is left. Node turns a longer delay into 1 ms.
      Math.min(MAX_TIMER_MS, Math.max(0, due - this.now())),
    );
    timer.unref();
    this.timers.set(entry, timer);
  }

  /** Re-arm from now (the model's TTL changed). */
  rearm(entry: ModelEntry): void {
    this.clear(entry);
    this.arm(entry);
  }
}
