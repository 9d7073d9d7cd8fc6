// Who gets GPU memory next (pure; tested synchronously with an injected clock). Given a snapshot of
// the models holding memory and the starts waiting for it, decide in one pass what the scheduler
// does now: which starts are placed, which idle models are evicted, which busy models yield, which
// starts are refused. The decision is final: the snapshot holds every fact it needs (a model
// whose stop was asked is `stopping`, one falling asleep `falling-asleep`), and memory-line.ts
// carries it out as it is, then asks again on the next change.
//
// The rules (docs/configuration.md `scheduling.swapAfterSeconds` and the eviction order):
// - Waiting starts are served in the order of their oldest waiting request. Each one plans over
//   what the ones before it leave: a start that waits claims the GPUs it waits on, so a later
//   start (the busy model's own, say) cannot take the memory it is waiting for. That is what ends
//   the livelock where a model evicted for another restarts at once for its next request.
// - A start that needs memory held by idle models evicts them at once: puts them to sleep where
//   they can sleep and the host RAM budget has room, else stops them; then stops sleepers (see
//   placement.ts for the tiers). A model is idle once nothing has been in flight or queued for
//   `idleGraceMs`. A wake is a start of a sleeper: it needs its budget on the GPUs it sleeps on.
// - One that needs memory held by busy models waits; a busy model that has been ready for
//   `swapAfterMs` yields: it takes no new requests, finishes those in flight, and is then evicted
//   (its queue waits for its turn back). swapAfterMs 0: busy models are never displaced.
// - Priority lanes (priority.ts): starts with interactive waiters are in line before those only batch
//   requests wait for; a busy holder serving interactive requests yields to a batch-only start only
//   after `batchSwapAfterMs` of being ready.
// - Refused (insufficient_vram) only when it cannot fit even with every unpinned model gone, or
//   when nobody waits for the start any more.

import { planPlacement, type PlacedModel, type PlacementGpu } from './placement.js';
import type { HostGpuIds } from '../hosts/host-gpus.js';
import { planOnHosts } from '../hosts/host-placement.js';
import { compareLine, onlyBatchWaits, servesInteractive, yieldableAt, type WaitersByClass } from './priority.js';

/** A model that holds (or has reserved) GPU memory. */
export interface HolderFacts {
  id: string;
  gpus: readonly number[];
  budgetMiB: number;
  pinned: boolean;
  /**
   * 'ready' can be evicted or asked to yield; 'starting' (and 'waking') only holds its budget;
   * 'stopping' is on its way out: its memory is as good as free for planning, but nothing is
   * placed on its GPUs until it is gone (P11). 'sleeping' holds only its residue (`budgetMiB`) and
   * can be stopped (the second tier); 'falling-asleep' is on its way to that: like stopping, but
   * its residue stays.
   */
  phase: 'ready' | 'starting' | 'stopping' | 'sleeping' | 'falling-asleep' | 'waking';
  /** Ready: what it would hold asleep (null: it cannot sleep). Sleeping: what it holds. */
  sleep?: { residualMiB: number; hostRamMiB: number } | null;
  inFlight: number;
  queued: number;
  /** Epoch ms: the last request's end (0 when never used). */
  lastUsedAt: number;
  /** Epoch ms: when it became ready. */
  readyAt: number;
  /** It already yields (to whomever): it is evicted as soon as nothing is in flight. */
  yielding: boolean;
  /**
   * Epoch ms it last served an interactive request: `now` while one is in flight or queued, else
   * when the last one ended; null: none yet. Absent: counts as serving interactive requests.
   */
  interactiveAt?: number | null;
}

/** A start waiting for memory. */
export interface ContenderFacts {
  id: string;
  budgetMiB: number;
  gpus: 'auto' | number[];
  /** Epoch ms of its oldest waiting request (or load() call); null when nobody waits for it. */
  since: number | null;
  /** Its waiters' oldest request per class; absent: all interactive. */
  waiters?: WaitersByClass;
  /** With remote hosts (docs/hosts.md): the hosts it may run on, in order; `gpus` are indices on the chosen one. */
  hosts?: readonly string[];
}

export interface MemorySnapshot {
  now: number;
  gpus: readonly PlacementGpu[];
  reserveMiB: number;
  holders: readonly HolderFacts[];
  contenders: readonly ContenderFacts[];
  swapAfterMs: number;
  /** How long a holder serving interactive requests keeps its memory against a batch-only start (absent: swapAfterMs). */
  batchSwapAfterMs?: number;
  idleGraceMs: number;
  /** Host RAM all level-1 sleepers may hold together (`scheduling.sleepHostRamGiB`); absent: no limit. */
  hostRamBudgetMiB?: number;
  /** With remote hosts: how GPU ids name host and index (placement is then host, then GPU). */
  hostIds?: HostGpuIds;
}

export interface MemoryDecision {
  /** Starts that get their GPUs now. */
  place: Array<{ id: string; gpuIndices: number[] }>;
  /** Models to stop now, and for whom. A yielding one keeps its queue. */
  evict: Array<{ id: string; for: string }>;
  /** Idle models to put to sleep now (instead of stopping them), and for whom. */
  sleep: Array<{ id: string; for: string }>;
  /** Every model that yields after this decision, and to whom; any other stops yielding. */
  yielding: Map<string, string>;
  /** Starts that keep waiting: why, and which models hold what they need. */
  waiting: Map<string, { reason: string; blockedBy: string[] }>;
  /** Starts refused with insufficient_vram. */
  refuse: Array<{ id: string; reason: string }>;
  /** When to decide again although nothing changed (a turn ends, a model becomes idle); or null. */
  wakeAt: number | null;
}

/** Is this holder idle for eviction purposes now? */
function isIdle(h: HolderFacts, now: number, idleGraceMs: number): boolean {
  if (h.phase !== 'ready' || h.inFlight > 0) return false;
  if (h.yielding) return true; // its queue waits for its turn back
  return h.queued === 0 && now - h.lastUsedAt >= idleGraceMs;
}

function toPlaced(h: HolderFacts, s: MemorySnapshot): PlacedModel {
  if (h.phase === 'sleeping' || h.phase === 'falling-asleep') {
    return {
      id: h.id,
      gpus: [...h.gpus],
      budgetMiB: h.budgetMiB,
      lastUsedAt: Math.max(h.lastUsedAt, h.readyAt),
      busy: false,
      pinned: h.pinned,
      evictable: h.phase === 'sleeping',
      sleep: { residualMiB: h.budgetMiB, hostRamMiB: h.sleep?.hostRamMiB ?? 0 },
      asleep: true,
    };
  }
  return {
    id: h.id,
    gpus: [...h.gpus],
    budgetMiB: h.budgetMiB,
    lastUsedAt: Math.max(h.lastUsedAt, h.readyAt),
    busy: !isIdle(h, s.now, s.idleGraceMs),
    pinned: h.pinned,
    evictable: h.phase === 'ready',
    yieldableAt: h.phase === 'ready' ? yieldableAt(turnFacts(h, s), false, s.swapAfterMs, batchSwapMs(s)) : null,
    sleep: h.phase === 'ready' ? (h.sleep ?? null) : null,
  };
}

const turnFacts = (h: HolderFacts, s: MemorySnapshot) => ({
  readyAt: h.readyAt,
  servesInteractive: h.interactiveAt === undefined || servesInteractive(h.interactiveAt, s.now, s.idleGraceMs),
});
const batchSwapMs = (s: MemorySnapshot) => s.batchSwapAfterMs ?? s.swapAfterMs;

/** What a batch-only start sees: ready holders serving interactive requests keep their memory longer. */
function asSeenByBatch(placed: PlacedModel[], s: MemorySnapshot): PlacedModel[] {
  return placed.map((m) => {
    const h = s.holders.find((x) => x.id === m.id);
    if (!h || h.phase !== 'ready' || m.yieldableAt == null) return m;
    return { ...m, yieldableAt: yieldableAt(turnFacts(h, s), true, s.swapAfterMs, batchSwapMs(s)) };
  });
}

export function decideMemory(s: MemorySnapshot): MemoryDecision {
  const d: MemoryDecision = { place: [], evict: [], sleep: [], yielding: new Map(), waiting: new Map(), refuse: [], wakeAt: null };
  // What is left for the next contender in line: holders not yet given away, plus claims.
  let placed: PlacedModel[] = s.holders.filter((h) => h.phase !== 'stopping').map((h) => toPlaced(h, s));
  // On their way out (or to sleep): nothing is placed on their GPUs until they are gone (asleep).
  const stopping: Array<{ id: string; gpus: readonly number[]; toSleep: boolean }> = s.holders
    .filter((h) => h.phase === 'stopping' || h.phase === 'falling-asleep')
    .map((h) => ({ id: h.id, gpus: h.gpus, toSleep: h.phase === 'falling-asleep' }));
  const line = [...s.contenders].sort(compareLine);
  /** Evicted or put to sleep by this decision, for a start ahead in the line. */
  const departing: typeof stopping = [];
  let anyWaits = false;
  for (const c of line) {
    const seen = onlyBatchWaits(c.waiters) ? asSeenByBatch(placed, s) : placed;
    const plan =
      s.hostIds && c.hosts
        ? planOnHosts(s.hostIds, c.hosts, s.gpus, s.reserveMiB, seen, c, s.now, s.hostRamBudgetMiB ?? Infinity)
        : planPlacement(s.gpus, s.reserveMiB, seen, c, s.now, s.hostRamBudgetMiB ?? Infinity);
    const fitsNow = plan.kind === 'fit' && plan.evict.length === 0 && !plan.sleep?.length;
    // Nobody waits for it (its clients went away): it goes ahead only where that costs no one
    // anything; it holds no place in line.
    if (c.since === null && !fitsNow) {
      d.refuse.push({ id: c.id, reason: 'no request waits for it any more' });
      continue;
    }
    if (plan.kind === 'impossible') {
      d.refuse.push({ id: c.id, reason: plan.reason });
      continue;
    }
    const claim: PlacedModel = {
      id: c.id,
      gpus: plan.gpuIndices,
      budgetMiB: c.budgetMiB,
      lastUsedAt: s.now,
      busy: true,
      pinned: false,
      evictable: false,
    };
    const here = (h: { gpus: readonly number[] }) => h.gpus.some((g) => plan.gpuIndices.includes(g));
    const leaving = stopping.filter(here).map((h) => h.id);
    const onTheWay = [...stopping, ...departing].filter(here);
    if (fitsNow && onTheWay.length === 0) {
      d.place.push({ id: c.id, gpuIndices: plan.gpuIndices });
    } else if (fitsNow) {
      anyWaits = true;
      const ids = onTheWay.map((h) => h.id);
      const asleep = onTheWay.filter((h) => h.toSleep).map((h) => h.id);
      d.waiting.set(c.id, { reason: waitReason({ kind: 'fit', gpuIndices: plan.gpuIndices, evict: [] }, ids, asleep), blockedBy: ids });
    } else {
      anyWaits = true;
      const given = plan.kind === 'wait' ? [] : [...plan.evict, ...(plan.kind === 'yield' ? plan.yield : [])];
      const slept = plan.kind === 'wait' ? [] : (plan.sleep ?? []);
      for (const id of plan.kind === 'wait' ? [] : plan.evict) d.evict.push({ id, for: c.id });
      for (const id of slept) d.sleep.push({ id, for: c.id });
      if (plan.kind === 'yield') for (const id of plan.yield) d.yielding.set(id, c.id);
      // Yielders with nothing in flight go at once (they were idle-tier candidates, so in `evict`).
      const blockedBy = [
        ...leaving,
        ...(plan.kind === 'wait'
          ? placed.filter((m) => m.gpus.some((g) => plan.gpuIndices.includes(g)) && !m.pinned && m.id !== c.id).map((m) => m.id)
          : [...given, ...slept]),
      ];
      d.waiting.set(c.id, { reason: waitReason(plan, blockedBy, slept), blockedBy });
      // What the next contender sees: the stopped gone, the slept holding their residue, and both
      // still on their way (nothing is placed on their GPUs this time either).
      for (const m of placed) {
        if (slept.includes(m.id) || (plan.kind !== 'wait' && plan.evict.includes(m.id)))
          departing.push({ id: m.id, gpus: m.gpus, toSleep: slept.includes(m.id) });
      }
      placed = placed
        .filter((m) => !given.includes(m.id))
        .map((m) => (slept.includes(m.id) ? { ...m, budgetMiB: m.sleep!.residualMiB, asleep: true, busy: false, evictable: false } : m));
    }
    placed = [...placed.filter((m) => m.id !== c.id), claim];
  }
  // A model already yielding whose memory is still wanted by someone keeps yielding and, once
  // idle, is evicted for them (it may have been planned as an idle eviction above).
  for (const e of [...d.evict, ...d.sleep]) {
    const h = s.holders.find((x) => x.id === e.id);
    if (h?.yielding) d.yielding.set(e.id, e.for);
  }
  if (anyWaits) d.wakeAt = nextWake(s);
  return d;
}

function waitReason(plan: ReturnType<typeof planPlacement>, blockedBy: string[], slept: readonly string[] = []): string {
  if (plan.kind === 'wait') return plan.reason;
  if (plan.kind === 'yield') return `waiting for ${plan.yield.join(', ')} to finish and yield`;
  if (plan.kind === 'fit') {
    const stopped = blockedBy.filter((id) => !slept.includes(id));
    const parts = [
      ...(stopped.length ? [`stopping ${stopped.join(', ')}`] : []),
      ...(slept.length ? [`putting ${slept.join(', ')} to sleep`] : []),
    ];
    return parts.join('; ');
  }
  return '';
}

/** The next moment a decision could differ with nothing else happening. */
function nextWake(s: MemorySnapshot): number | null {
  let at = Infinity;
  for (const h of s.holders) {
    if (h.phase !== 'ready' || h.pinned) continue;
    for (const batchOnly of [false, true]) {
      const turnEnds = yieldableAt(turnFacts(h, s), batchOnly, s.swapAfterMs, batchSwapMs(s));
      if (turnEnds !== null && turnEnds > s.now) at = Math.min(at, turnEnds);
    }
    if (h.inFlight === 0 && h.queued === 0 && h.lastUsedAt + s.idleGraceMs > s.now) at = Math.min(at, h.lastUsedAt + s.idleGraceMs);
  }
  return at === Infinity ? null : at;
}
