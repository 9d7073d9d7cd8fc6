// Per-model admission's mechanics: waiting requests in two lanes (interactive before batch, FIFO
// within each: priority.ts) and a set of in-flight leases. Who may join, who is served at once and
// when an interactive request takes a batch one's place is admission.ts's rule (decideAdmission);
// this only keeps the sets.
// `queued` and `inFlight` are the sizes of these live sets (docs/architecture.md rule 3): a request is in
// exactly one of them, or in neither once it has settled. There is no counter that could leak (P9).

import { Cancel, type AbortLike } from '../proxy/cancel.js';
import { PriorityLanes, type ByPriority, type Priority } from './priority.js';

export interface Lease {
  readonly requestId: string;
  readonly priority: Priority;
  /** Aborted when the gateway cuts the request (model crashed, forced unload, shutdown). */
  readonly signal: AbortLike;
  /** Leaves the in-flight set. Idempotent: call it in a `finally`. */
  release(): void;
}

interface Waiter {
  requestId: string;
  priority: Priority;
  /** When it joined (epoch ms): models waiting for GPU memory are served oldest request first. */
  at: number;
  resolve(lease: Lease): void;
  reject(err: Error): void;
}

export class ModelQueue {
  readonly waiting = new PriorityLanes<Waiter>();
  readonly inFlight = new Set<ModelLease>();
  /** When its last interactive request ended (epoch ms), or null: for the turn rule's grace (memory-turns.ts). */
  lastInteractiveEndAt: number | null = null;

  constructor(
    private readonly limits: { maxConcurrent: number },
    private readonly onChange: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  get queued(): number {
    return this.waiting.size;
  }

  /** Waiting requests per class. */
  get queuedByPriority(): ByPriority<number> {
    return { interactive: this.waiting.sizeOf('interactive'), batch: this.waiting.sizeOf('batch') };
  }

  /** When the oldest request still waiting joined (of one class, or of either), or null when none waits. */
  oldestWaitingAt(priority?: Priority): number | null {
    return priority ? this.waiting.oldestAt(priority) : this.waiting.oldestAtAll();
  }

  /** Some interactive request is in flight or waiting (memory-turns.ts: its turn against batch starts). */
  get servesInteractive(): boolean {
    if (this.waiting.sizeOf('interactive') > 0) return true;
    for (const l of this.inFlight) if (l.priority === 'interactive') return true;
    return false;
  }

  /** A waiting request's place in the queue (1 = next), or null when it does not wait. */
  positionOf(requestId: string): number | null {
    let i = 0;
    for (const w of this.waiting) {
      i++;
      if (w.requestId === requestId) return i;
    }
    return null;
  }

  get busy(): boolean {
    return this.waiting.size > 0 || this.inFlight.size > 0;
  }

  /**
   * Join the queue (admission decided it may: its bound is decideAdmission's). `displaced`: the
   * queue is full and this request takes the place of the batch request that joined last, which
   * is refused with this error. The returned promise resolves with a lease when `grant` hands this
   * request a slot; `cancel` takes it out of the queue (client gone, timeout) and rejects it with
   * the given error.
   */
  enqueue(
    requestId: string,
    priority: Priority = 'interactive',
    displaced: Error | null = null,
  ): { granted: Promise<Lease>; cancel(err: Error): void } {
    const gone = displaced ? this.waiting.youngest('batch') : null;
    if (gone) {
      this.waiting.delete(gone);
      gone.reject(displaced!);
    }
    let waiter!: Waiter;
    const granted = new Promise<Lease>((resolve, reject) => {
      waiter = { requestId, priority, at: this.now(), resolve, reject };
    });
    // A cancelled waiter's rejection may have no listener yet: keep it from becoming unhandled.
    granted.catch(() => {});
    this.waiting.add(waiter);
    this.onChange();
    return {
      granted,
      cancel: (err) => {
        if (this.waiting.delete(waiter)) {
          waiter.reject(err);
          this.onChange();
        }
      },
    };
  }

  /** A slot at once, admission having decided one is free (the hot path: no promise, no timer). */
  leaseNow(requestId: string, priority: Priority = 'interactive'): Lease {
    const lease = this.lease(requestId, priority);
    this.onChange();
    return lease;
  }

  /** Hand free slots to waiters in admission order (interactive first). Only called while the model is ready. */
  grant(): void {
    // Called as every request ends: with nobody waiting (the usual case) no lane iterator is made.
    if (this.waiting.size === 0) return;
    let changed = false;
    for (const waiter of this.waiting) {
      if (this.inFlight.size >= this.limits.maxConcurrent) break;
      this.waiting.delete(waiter);
      waiter.resolve(this.lease(waiter.requestId, waiter.priority));
      changed = true;
    }
    if (changed) this.onChange();
  }

  /** Reject every waiting request (start failed, forced unload, shutdown). */
  rejectWaiting(err: Error): void {
    if (this.waiting.size === 0) return;
    const waiters = [...this.waiting];
    this.waiting.clear();
    for (const w of waiters) w.reject(err);
    this.onChange();
  }

  /** Cut every in-flight request; each leaves the set through its own release(). */
  cutInFlight(err: Error): void {
    for (const lease of [...this.inFlight]) lease.signal.abort(err);
  }

  /** Called by ModelLease.release(). */
  leave(lease: ModelLease): void {
    if (!this.inFlight.delete(lease)) return;
    if (lease.priority === 'interactive') this.lastInteractiveEndAt = this.now();
    this.onChange();
  }

  private lease(requestId: string, priority: Priority): ModelLease {
    const lease = new ModelLease(requestId, priority, this);
    this.inFlight.add(lease);
    return lease;
  }
}

class ModelLease implements Lease {
  readonly signal = new Cancel();

  constructor(
    readonly requestId: string,
    readonly priority: Priority,
    private readonly queue: ModelQueue,
  ) {}

  release(): void {
    this.queue.leave(this);
  }
}
