// Priority lanes (pure; docs/scheduling.md "Priority lanes"). Every request is `interactive` (an
// IDE's completion, a chat) or `batch` (an eval, an indexing job); these rules say how a request
// gets its class, in which order a model's queue admits its waiters, and how long a busy model
// keeps its GPU memory against a start that only batch requests wait for. model-queue.ts,
// memory-turns.ts and the proxy carry them out; nothing here reads a clock or does I/O.

import { errors } from '../errors.js';

export const PRIORITIES = ['interactive', 'batch'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Counts (or anything else) per class, as the status document shows them. */
export type ByPriority<T> = Record<Priority, T>;

// ---------------------------------------------------------------- a request's class

/**
 * The class an `X-Priority` header names: `interactive` or `batch` in any case, spaces around
 * ignored; absent (or empty) → null. Any other value is refused (400 invalid_request): a typo such
 * as `X-Priority: bulk` must not silently run as interactive.
 */
export function parsePriorityHeader(value: string | string[] | undefined): Priority | null {
  if (value === undefined) return null;
  // Repeated headers arrive joined with ", " (server.ts joinDuplicateHeaders): one class per request.
  const raw = Array.isArray(value) ? value.join(', ') : value;
  const v = raw.trim().toLowerCase();
  if (v === '') return null;
  if (v === 'interactive' || v === 'batch') return v;
  throw errors.badPriorityHeader(raw);
}

/**
 * A request's class: its `X-Priority` header, else its API key's class (`auth.apiKeys` entries
 * `{key, priority}`), else `scheduling.defaultPriority`. Throws invalid_request for a bad header.
 */
export function requestPriority(facts: {
  header: string | string[] | undefined;
  keyPriority: Priority | undefined;
  defaultPriority: Priority;
}): Priority {
  return parsePriorityHeader(facts.header) ?? facts.keyPriority ?? facts.defaultPriority;
}

// ---------------------------------------------------------------- a model's queue

/**
 * A model's waiting requests in two FIFO lanes: every interactive waiter is admitted before any
 * batch one, each lane in arrival order. Iteration is admission order. (A Set per lane: removing
 * a waiter that gave up is O(1), and a Set iterates in insertion order.)
 */
export class PriorityLanes<T extends { priority: Priority; at: number }> {
  private readonly lanes: ByPriority<Set<T>> = { interactive: new Set(), batch: new Set() };

  get size(): number {
    return this.lanes.interactive.size + this.lanes.batch.size;
  }

  sizeOf(priority: Priority): number {
    return this.lanes[priority].size;
  }

  add(item: T): void {
    this.lanes[item.priority].add(item);
  }

  delete(item: T): boolean {
    return this.lanes[item.priority].delete(item);
  }

  clear(): void {
    this.lanes.interactive.clear();
    this.lanes.batch.clear();
  }

  /** When the oldest waiter of a class joined (epoch ms), or null when none of that class waits. */
  oldestAt(priority: Priority): number | null {
    for (const w of this.lanes[priority]) return w.at; // the first in a lane is its oldest
    return null;
  }

  /** When the oldest waiter of either class joined, or null when none waits. */
  oldestAtAll(): number | null {
    const i = this.oldestAt('interactive');
    const b = this.oldestAt('batch');
    return i === null ? b : b === null ? i : Math.min(i, b);
  }

  /** The waiter of a class that joined last, or null. */
  youngest(priority: Priority): T | null {
    let last: T | null = null;
    for (const w of this.lanes[priority]) last = w;
    return last;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    yield* this.lanes.interactive;
    yield* this.lanes.batch;
  }
}

// ---------------------------------------------------------------- turns for GPU memory

/** Who waits for a start, by class: each lane's oldest request (epoch ms), null when that lane is empty. */
export interface WaitersByClass {
  interactiveSince: number | null;
  batchSince: number | null;
}

/** Only batch requests wait for it (a start with interactive waiters, or with none, is not). */
export function onlyBatchWaits(w: WaitersByClass | undefined): boolean {
  return w !== undefined && w.interactiveSince === null && w.batchSince !== null;
}

/**
 * The place of a start in the line for GPU memory: starts with interactive waiters first, by their
 * oldest interactive request; then starts only batch requests wait for, by their oldest batch
 * request. `since` (the oldest of either; null: nobody waits) is the place of a start without
 * class facts, which counts as interactive. Compare with `compareLine`.
 */
export function linePlace(c: { since: number | null; waiters?: WaitersByClass }): [rank: number, at: number] {
  if (c.since === null) return [2, Infinity];
  if (!c.waiters || c.waiters.interactiveSince !== null) return [0, c.waiters?.interactiveSince ?? c.since];
  return [1, c.waiters.batchSince ?? c.since];
}

export function compareLine(
  a: { id: string; since: number | null; waiters?: WaitersByClass },
  b: { id: string; since: number | null; waiters?: WaitersByClass },
): number {
  const [ra, ta] = linePlace(a);
  const [rb, tb] = linePlace(b);
  return ra - rb || (ta === tb ? 0 : ta < tb ? -1 : 1) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * A holder serves interactive requests while one is in flight or queued (`interactiveAt` = now),
 * and for `graceMs` after the last one ended: an IDE's next completion comes that soon, as the
 * idle rule assumes. `interactiveAt` null: it has served none.
 */
export function servesInteractive(interactiveAt: number | null, now: number, graceMs: number): boolean {
  return interactiveAt !== null && now - interactiveAt < graceMs;
}

/**
 * When a busy holder may be asked to yield its memory to this start (epoch ms), or null: never.
 * A start with interactive waiters gets it once the holder has been ready `swapAfterMs`; one only
 * batch requests wait for gets it from a holder serving interactive requests only once that holder
 * has been ready `batchSwapAfterMs` (so batch work runs in the gaps, and still gets its turn). A
 * holder serving only batch requests yields to anyone after `swapAfterMs`. `swapAfterMs` 0: busy
 * holders are never displaced, by anyone.
 */
export function yieldableAt(
  holder: { readyAt: number; servesInteractive: boolean },
  contenderOnlyBatch: boolean,
  swapAfterMs: number,
  batchSwapAfterMs: number,
): number | null {
  if (swapAfterMs <= 0) return null;
  const turn = contenderOnlyBatch && holder.servesInteractive ? Math.max(swapAfterMs, batchSwapAfterMs) : swapAfterMs;
  return holder.readyAt + turn;
}
