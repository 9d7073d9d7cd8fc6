// Turn-taking for GPU memory (pure, synchronous, clock injected as `now`): idle models evicted at
// once; busy ones yield only after swapAfterSeconds of being ready; waiting starts served by their
// oldest waiting request; no livelock; pinned never; swapAfterSeconds 0 keeps busy models.

import { describe, expect, it } from 'vitest';
import { decideMemory, type ContenderFacts, type HolderFacts, type MemorySnapshot } from '../../gateway/scheduler/memory-turns.js';

const GiB = 1024;
const S = 1000;
/** One 24 GiB GPU, 0.5 GiB reserve: 23.5 GiB usable. */
const GPU = [{ index: 0, totalMiB: 24 * GiB, reservedMiB: 0, otherMiB: 0 }];

const ready = (id: string, gib: number, over: Partial<HolderFacts> = {}): HolderFacts => ({
  id,
  gpus: [0],
  budgetMiB: gib * GiB,
  pinned: false,
  phase: 'ready',
  inFlight: 0,
  queued: 0,
  lastUsedAt: 0,
  readyAt: 0,
  yielding: false,
  ...over,
});
const busy = (id: string, gib: number, over: Partial<HolderFacts> = {}) => ready(id, gib, { inFlight: 1, ...over });
const wants = (id: string, gib: number, since: number | null, over: Partial<ContenderFacts> = {}): ContenderFacts => ({
  id,
  budgetMiB: gib * GiB,
  gpus: 'auto',
  since,
  ...over,
});

function decide(now: number, holders: HolderFacts[], contenders: ContenderFacts[], over: Partial<MemorySnapshot> = {}) {
  return decideMemory({ now, gpus: GPU, reserveMiB: 512, holders, contenders, swapAfterMs: 30 * S, idleGraceMs: 500, ...over });
}

describe('idle models', () => {
  it('a start that fits is placed at once', () => {
    const d = decide(100 * S, [busy('a', 10)], [wants('b', 10, 99 * S)]);
    expect(d.place).toEqual([{ id: 'b', gpuIndices: [0] }]);
    expect([d.evict, [...d.yielding], [...d.waiting], d.refuse, d.wakeAt]).toEqual([[], [], [], [], null]);
  });

  it('idle models holding the memory are evicted at once, least recently used first, however recently ready', () => {
    const holders = [ready('a', 10, { lastUsedAt: 95 * S, readyAt: 90 * S }), ready('c', 10, { lastUsedAt: 92 * S, readyAt: 90 * S })];
    const d = decide(100 * S, holders, [wants('b', 10, 100 * S)]);
    expect(d.evict).toEqual([{ id: 'c', for: 'b' }]);
    expect(d.place).toEqual([]); // placed once c's server is gone (P11)
    expect(d.waiting.get('b')).toEqual({ reason: 'stopping c', blockedBy: ['c'] });
  });

  it('a model whose last request ended under idleGrace ago is busy; the decision wakes when it turns idle', () => {
    const holders = [ready('a', 14, { lastUsedAt: 99.8 * S, readyAt: 99 * S })];
    const d = decide(100 * S, holders, [wants('b', 14, 95 * S)]);
    expect(d.evict).toEqual([]);
    expect(d.wakeAt).toBe(100.3 * S);
    expect(decide(100.3 * S, holders, [wants('b', 14, 95 * S)]).evict).toEqual([{ id: 'a', for: 'b' }]);
  });

  it('a starting model holds its memory and is never evicted', () => {
    const d = decide(100 * S, [ready('a', 14, { phase: 'starting' })], [wants('b', 14, 1)]);
    expect([d.place, d.evict, d.refuse]).toEqual([[], [], []]);
    expect(d.waiting.get('b')?.blockedBy).toEqual(['a']);
  });

  it("a stopping model's memory is as good as free: nothing more is evicted, nothing placed until it is gone (P11)", () => {
    const holders = [ready('a', 10, { phase: 'stopping' }), ready('i', 10, { lastUsedAt: 1 })];
    const d = decide(100 * S, holders, [wants('c', 10, 1)]);
    expect([d.place, d.evict]).toEqual([[], []]);
    expect(d.waiting.get('c')).toEqual({ reason: 'stopping a', blockedBy: ['a'] });
    expect(decide(100 * S, [holders[1]], [wants('c', 10, 1)]).place).toEqual([{ id: 'c', gpuIndices: [0] }]);
  });
});

describe('busy models yield after swapAfterSeconds', () => {
  const a = (over: Partial<HolderFacts> = {}) => busy('a', 14, { readyAt: 10 * S, ...over });

  it('before its turn is over a busy model keeps serving; the decision wakes when it is', () => {
    const d = decide(20 * S, [a()], [wants('b', 14, 15 * S)]);
    expect([d.place, d.evict, [...d.yielding]]).toEqual([[], [], []]);
    expect(d.waiting.get('b')).toEqual({ reason: 'needs 14.0 GiB; models in use hold the rest', blockedBy: ['a'] });
    expect(d.wakeAt).toBe(40 * S);
  });

  it('ready for swapAfterSeconds: it yields to the waiting start (no new requests), evicted once nothing is in flight', () => {
    const d = decide(40 * S, [a({ queued: 3 })], [wants('b', 14, 15 * S)]);
    expect([...d.yielding]).toEqual([['a', 'b']]);
    expect(d.evict).toEqual([]); // it still serves what is in flight
    expect(d.waiting.get('b')).toEqual({ reason: 'waiting for a to finish and yield', blockedBy: ['a'] });
    // Its in-flight request ends; its queue (3) waits for its turn back: evicted now, still yielding.
    const d2 = decide(41 * S, [a({ queued: 3, inFlight: 0, yielding: true })], [wants('b', 14, 15 * S)]);
    expect(d2.evict).toEqual([{ id: 'a', for: 'b' }]);
    expect([...d2.yielding]).toEqual([['a', 'b']]);
  });

  it("swapAfterSeconds 0: a busy model is never displaced (today's rule), the start just waits", () => {
    const d = decide(1000 * S, [a()], [wants('b', 14, 15 * S)], { swapAfterMs: 0 });
    expect([d.place, d.evict, [...d.yielding], d.refuse]).toEqual([[], [], [], []]);
    expect(d.waiting.has('b')).toBe(true);
    expect(d.wakeAt).toBeNull();
  });

  it('pinned models never yield; if only they hold the memory the start is refused at once', () => {
    expect(decide(1000 * S, [a({ pinned: true })], [wants('b', 14, 15 * S)]).refuse).toEqual([
      { id: 'b', reason: 'needs 14.0 GiB but at most 9.5 GiB can be freed on GPU 0 (pinned models and other processes hold the rest)' },
    ]);
    // Beside a pinned model, only the unpinned one yields.
    const d = decide(1000 * S, [busy('p', 8, { pinned: true, readyAt: 0 }), busy('a', 10, { readyAt: 0 })], [wants('b', 10, 15 * S)]);
    expect([...d.yielding]).toEqual([['a', 'b']]);
  });

  it('idle models go before busy ones are asked to yield; only as many yield as needed', () => {
    const holders = [busy('a', 8, { readyAt: 0 }), busy('c', 8, { readyAt: 5 * S }), ready('i', 6, { lastUsedAt: 1 })];
    // 23.5 − 22 = 1.5 free; b needs 12: i (6) + a (8) → 15.5 ≥ 12. c keeps serving.
    const d = decide(100 * S, holders, [wants('b', 12, 50 * S)]);
    expect(d.evict).toEqual([{ id: 'i', for: 'b' }]);
    expect([...d.yielding]).toEqual([['a', 'b']]);
  });

  it('a yield that stops being needed is withdrawn (the decision lists every yielder afresh)', () => {
    const d = decide(100 * S, [busy('a', 14, { yielding: true })], []);
    expect([...d.yielding]).toEqual([]);
  });
});

describe('the line: oldest waiting request first', () => {
  it('FIFO across waiting models: the oldest waiting request gets the memory, the next waits behind it', () => {
    const holders = [ready('x', 20, { lastUsedAt: 1 })];
    const d = decide(100 * S, holders, [wants('late', 20, 90 * S), wants('early', 20, 80 * S)]);
    expect(d.evict).toEqual([{ id: 'x', for: 'early' }]);
    expect(d.waiting.get('late')?.blockedBy).toEqual(['early']); // behind early's claim
  });

  it('the livelock: a model evicted for another is not restarted by its own late requests while the other waits', () => {
    // b waited since 10 s; a was just evicted for b (stopping), and a's next request (at 41 s)
    // started a again: a is in line behind b and gets nothing, even though memory is free now.
    const free = decide(41 * S, [], [wants('a', 14, 41 * S), wants('b', 14, 10 * S)]);
    expect(free.place).toEqual([{ id: 'b', gpuIndices: [0] }]);
    expect(free.waiting.get('a')?.blockedBy).toEqual(['b']);
    // While a's server is still stopping, neither is placed; a does not evict anything either.
    const stopping = decide(41 * S, [ready('a', 14, { phase: 'stopping' })], [wants('a', 14, 41 * S), wants('b', 14, 10 * S)]);
    expect([stopping.place, stopping.evict]).toEqual([[], []]);
  });

  it('a later start may use memory the ones ahead of it do not need', () => {
    const twoGpus = [...GPU, { index: 1, totalMiB: 24 * GiB, reservedMiB: 0, otherMiB: 0 }];
    const d = decide(100 * S, [busy('a', 20, { readyAt: 90 * S })], [wants('b', 20, 10 * S, { gpus: [0] }), wants('c', 20, 50 * S)], {
      gpus: twoGpus,
    });
    expect(d.place).toEqual([{ id: 'c', gpuIndices: [1] }]);
    expect(d.waiting.has('b')).toBe(true);
  });

  it('three models competing take turns in the order of their oldest requests', () => {
    // a serves; b waits since 5 s, c since 8 s; each needs the whole GPU.
    const line = (a: number) => [wants('b', 20, 5 * S), wants('c', 20, 8 * S), ...(a ? [wants('a', 20, a)] : [])];
    let d = decide(30 * S, [busy('a', 20, { readyAt: 0 })], line(0));
    expect([...d.yielding]).toEqual([['a', 'b']]);
    // a evicted (its queue from 29 s waits); b placed, ready at 35 s; c waits behind b.
    d = decide(31 * S, [], line(29 * S));
    expect(d.place).toEqual([{ id: 'b', gpuIndices: [0] }]);
    expect(d.waiting.get('c')?.blockedBy).toEqual(['b']);
    expect(d.waiting.get('a')?.blockedBy).toEqual(['b', 'c']);
    // b is busy: before 65 s nobody moves; at 65 s b yields to c (older than a's 29 s).
    const afterB = [wants('c', 20, 8 * S), wants('a', 20, 29 * S)];
    d = decide(60 * S, [busy('b', 20, { readyAt: 35 * S })], afterB);
    expect([...d.yielding]).toEqual([]);
    expect(d.wakeAt).toBe(65 * S);
    d = decide(65 * S, [busy('b', 20, { readyAt: 35 * S })], afterB);
    expect([...d.yielding]).toEqual([['b', 'c']]);
    // Then a gets its turn back after c's.
    d = decide(100 * S, [busy('c', 20, { readyAt: 70 * S })], [wants('a', 20, 29 * S), wants('b', 20, 66 * S)]);
    expect([...d.yielding]).toEqual([['c', 'a']]);
  });
});

describe('refusals', () => {
  it('a model that cannot fit even with every unpinned model gone is refused at once', () => {
    const d = decide(0, [], [wants('huge', 30, 0)]);
    expect(d.refuse).toEqual([
      { id: 'huge', reason: 'needs 30.0 GiB but at most 23.5 GiB can be freed on GPU 0 (pinned models and other processes hold the rest)' },
    ]);
  });

  it('a start nobody waits for any more is refused unless it fits at once', () => {
    expect(decide(0, [busy('a', 20)], [wants('b', 10, null)]).refuse).toEqual([{ id: 'b', reason: 'no request waits for it any more' }]);
    expect(decide(0, [], [wants('b', 10, null)]).place).toEqual([{ id: 'b', gpuIndices: [0] }]);
  });
});

describe('priority lanes (batchSwapAfterSeconds)', () => {
  // a: 14 GiB, ready at 10 s, one interactive request in flight; b (14 GiB) cannot fit beside it.
  const holder = (over: Partial<HolderFacts> = {}) => busy('a', 14, { readyAt: 10 * S, interactiveAt: undefined, ...over }); // absent: serving interactive;
  const batchOnly = (id: string, since: number) => wants(id, 14, since, { waiters: { interactiveSince: null, batchSince: since } });
  const withInteractive = (id: string, since: number) => wants(id, 14, since, { waiters: { interactiveSince: since, batchSince: null } });
  const lanes = { batchSwapAfterMs: 300 * S };

  it('a batch-only start does not displace a holder serving interactive requests before batchSwapAfterSeconds', () => {
    const d = decide(100 * S, [holder()], [batchOnly('b', 15 * S)], lanes);
    expect([d.place, d.evict, [...d.yielding]]).toEqual([[], [], []]);
    expect(d.waiting.get('b')?.blockedBy).toEqual(['a']);
    expect(d.wakeAt).toBe(310 * S); // its turn against batch ends 300 s after it became ready
  });

  it('… and gets its turn after it', () => {
    const d = decide(310 * S, [holder()], [batchOnly('b', 15 * S)], lanes);
    expect([...d.yielding]).toEqual([['a', 'b']]);
  });

  it('a start with interactive waiters takes it after swapAfterSeconds, as before', () => {
    const d = decide(40 * S, [holder()], [withInteractive('b', 15 * S)], lanes);
    expect([...d.yielding]).toEqual([['a', 'b']]);
  });

  it('a holder serving only batch requests yields to a batch-only start after swapAfterSeconds', () => {
    const d = decide(40 * S, [holder({ interactiveAt: null })], [batchOnly('b', 15 * S)], lanes);
    expect([...d.yielding]).toEqual([['a', 'b']]);
  });

  it('between two interactive requests (within the idle grace) it still serves interactive requests', () => {
    // Nothing in flight: the last interactive request ended 200 ms ago; the IDE's next is coming.
    const between = holder({ inFlight: 0, lastUsedAt: 99.8 * S, interactiveAt: 99.8 * S });
    expect([...decide(100 * S, [between], [batchOnly('b', 15 * S)], lanes).yielding]).toEqual([]);
    // Its last interactive request ended long ago, it serves batch work now: swapAfterSeconds.
    const batchWork = holder({ interactiveAt: 20 * S });
    expect([...decide(100 * S, [batchWork], [batchOnly('b', 15 * S)], lanes).yielding]).toEqual([['a', 'b']]);
  });

  it('an idle holder is evicted for a batch-only start at once: batch work runs in the gaps', () => {
    const d = decide(
      100 * S,
      [ready('a', 14, { readyAt: 10 * S, lastUsedAt: 50 * S, interactiveAt: 50 * S })],
      [batchOnly('b', 99 * S)],
      lanes,
    );
    expect(d.evict).toEqual([{ id: 'a', for: 'b' }]);
  });

  it('the line: a start with interactive waiters goes before an older batch-only one', () => {
    const holders = [ready('x', 20, { lastUsedAt: 1 })];
    const d = decide(100 * S, holders, [batchOnly('batchy', 10 * S), withInteractive('ide', 90 * S)], lanes);
    expect(d.evict).toEqual([{ id: 'x', for: 'ide' }]);
    expect(d.waiting.get('batchy')?.blockedBy).toEqual(['ide']);
  });
});
