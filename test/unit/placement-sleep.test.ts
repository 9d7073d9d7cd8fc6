// The sleep tier in placement and turn-taking (pure): idle models are put to sleep when they can
// and the host RAM budget has room, else stopped; then sleepers are stopped, least recently used
// first; a sleeper holds its residue on its GPU and its weights in host RAM; a wake is a start of
// the sleeper on its own GPUs.

import { describe, expect, it } from 'vitest';
import { decideMemory, type ContenderFacts, type HolderFacts } from '../../gateway/scheduler/memory-turns.js';
import { hostRamHeldMiB, hostRamRoom, planPlacement, type PlacedModel, type PlacementGpu } from '../../gateway/scheduler/placement.js';

const GiB = 1024;
const S = 1000;
const gpu = (index: number, totalGiB = 24): PlacementGpu => ({ index, totalMiB: totalGiB * GiB, reservedMiB: 0, otherMiB: 0 });
const RESERVE = 512; // 23.5 GiB usable on a 24 GiB GPU

/** A ready idle model that can sleep, holding `residual` GiB on the GPU and `ram` GiB of host RAM once asleep. */
const sleepy = (id: string, gib: number, residual: number, ram: number, over: Partial<PlacedModel> = {}): PlacedModel => ({
  id,
  gpus: [0],
  budgetMiB: gib * GiB,
  lastUsedAt: 0,
  busy: false,
  pinned: false,
  evictable: true,
  sleep: { residualMiB: residual * GiB, hostRamMiB: ram * GiB },
  ...over,
});
/** A model that sleeps now. */
const sleeper = (id: string, residual: number, ram: number, over: Partial<PlacedModel> = {}): PlacedModel => ({
  ...sleepy(id, residual, residual, ram, over),
  asleep: true,
  ...over,
});
const plain = (id: string, gib: number, over: Partial<PlacedModel> = {}): PlacedModel => ({
  ...sleepy(id, gib, 0, 0),
  sleep: null,
  ...over,
});
const req = (id: string, gib: number, gpus: 'auto' | number[] = 'auto') => ({ id, budgetMiB: gib * GiB, gpus });

describe('placement: the sleep tier', () => {
  it('an idle model that can sleep is put to sleep, not stopped, when its residue leaves room', () => {
    expect(planPlacement([gpu(0)], RESERVE, [sleepy('a', 14, 1, 14)], req('b', 14))).toEqual({
      kind: 'fit',
      gpuIndices: [0],
      evict: [],
      sleep: ['a'],
    });
  });

  it('the residue counts: when it leaves too little, the sleeper goes too (stopped, not slept)', () => {
    // 23.5 usable; a asleep holds 4: 19.5 left < 20.
    expect(planPlacement([gpu(0)], RESERVE, [sleepy('a', 20, 4, 20)], req('b', 20))).toEqual({
      kind: 'fit',
      gpuIndices: [0],
      evict: ['a'],
    });
  });

  it('level 2 (no host RAM) always sleeps; level 1 only within the host RAM budget, else it is stopped', () => {
    const lvl2 = sleepy('a', 14, 1, 0);
    expect(planPlacement([gpu(0)], RESERVE, [lvl2], req('b', 14), 0, 0)).toMatchObject({ evict: [], sleep: ['a'] });
    expect(planPlacement([gpu(0)], RESERVE, [sleepy('a', 14, 1, 16)], req('b', 14), 0, 10 * GiB)).toEqual({
      kind: 'fit',
      gpuIndices: [0],
      evict: ['a'],
    });
    expect(planPlacement([gpu(0)], RESERVE, [sleepy('a', 14, 1, 16)], req('b', 14), 0, 16 * GiB)).toMatchObject({ sleep: ['a'] });
  });

  it('older sleepers (any GPU) are stopped to make host RAM room for a more recent one; a newer sleeper is not', () => {
    const gpus = [gpu(0), gpu(1)];
    const old = sleeper('old', 1, 10, { gpus: [1], lastUsedAt: 10 });
    const victim = sleepy('v', 14, 1, 10, { lastUsedAt: 50 });
    expect(planPlacement(gpus, RESERVE, [old, victim, plain('busy1', 20, { gpus: [1], busy: true })], req('b', 14), 0, 15 * GiB)).toEqual({
      kind: 'fit',
      gpuIndices: [0],
      evict: ['old'],
      sleep: ['v'],
    });
    const newer = sleeper('newer', 1, 10, { gpus: [1], lastUsedAt: 90 });
    expect(planPlacement(gpus, RESERVE, [newer, victim, plain('busy1', 20, { gpus: [1], busy: true })], req('b', 14), 0, 15 * GiB)).toEqual(
      {
        kind: 'fit',
        gpuIndices: [0],
        evict: ['v'],
      },
    );
  });

  it('order: idle ready models first (LRU), then sleepers (LRU) are stopped', () => {
    // s1, s2 asleep hold 3 GiB each; r idle holds 12 and sleeps to 1.
    const models = [
      sleeper('s1', 3, 0, { lastUsedAt: 10 }),
      sleeper('s2', 3, 0, { lastUsedAt: 20 }),
      sleepy('r', 12, 1, 0, { lastUsedAt: 30 }),
    ];
    // 23.5 − 18 = 5.5 free. 12 GiB: sleeping r frees 11 → 16.5 ≥ 12.
    expect(planPlacement([gpu(0)], RESERVE, models, req('n', 12))).toEqual({ kind: 'fit', gpuIndices: [0], evict: [], sleep: ['r'] });
    // 18 GiB: r asleep leaves 16.5; stopping s1 (the least recently used sleeper) gives 19.5.
    expect(planPlacement([gpu(0)], RESERVE, models, req('n', 18))).toEqual({ kind: 'fit', gpuIndices: [0], evict: ['s1'], sleep: ['r'] });
    // 23 GiB: every sleeper goes, r too (stopped: asleep it would still hold 1 GiB): 23.5.
    expect(planPlacement([gpu(0)], RESERVE, models, req('n', 23))).toEqual({ kind: 'fit', gpuIndices: [0], evict: ['s1', 's2', 'r'] });
  });

  it('a pinned sleeper is never stopped; a busy model is never put to sleep', () => {
    const models = [sleeper('p', 4, 0, { pinned: true }), sleepy('busy', 10, 1, 0, { busy: true })];
    expect(planPlacement([gpu(0)], RESERVE, models, req('n', 12)).kind).toBe('wait');
    expect(planPlacement([gpu(0)], RESERVE, [sleeper('p', 4, 0, { pinned: true })], req('n', 20)).kind).toBe('impossible');
  });

  it("a wake is planned as the sleeper's own start: its residue is not counted twice", () => {
    // The sleeper holds 1 GiB; another model holds 9: its 14 GiB budget fits (23.5 − 9).
    const models = [sleeper('a', 1, 14), plain('other', 9, { busy: true })];
    expect(planPlacement([gpu(0)], RESERVE, models, req('a', 14, [0]))).toEqual({ kind: 'fit', gpuIndices: [0], evict: [] });
  });

  it('gpus: auto prefers a GPU where a sleep is enough over one where a model must stop', () => {
    const models = [plain('stopme', 14, { gpus: [0] }), sleepy('sleepme', 14, 1, 0, { gpus: [1], lastUsedAt: 99 })];
    expect(planPlacement([gpu(0), gpu(1)], RESERVE, models, req('n', 14))).toEqual({
      kind: 'fit',
      gpuIndices: [1],
      evict: [],
      sleep: ['sleepme'],
    });
  });

  it('a busy model that yields is counted as the sleeper it becomes', () => {
    const y = sleepy('y', 14, 1, 0, { busy: true, yieldableAt: 0 });
    expect(planPlacement([gpu(0)], RESERVE, [y], req('n', 14), 10)).toEqual({ kind: 'yield', gpuIndices: [0], evict: [], yield: ['y'] });
  });

  it('hostRamHeldMiB sums what the sleepers hold', () => {
    expect(hostRamHeldMiB([sleeper('a', 1, 8), sleeper('b', 1, 0), sleepy('c', 10, 1, 30)])).toBe(8 * GiB);
  });

  it('hostRamRoom: older sleepers, least recently used first, make room; a newer one or a pinned one never does', () => {
    const held = [sleeper('old', 1, 8, { lastUsedAt: 1 }), sleeper('older', 1, 8, { lastUsedAt: 0 }), sleeper('newer', 1, 8, { lastUsedAt: 9 })];
    const s = (lastUsedAt: number, ram: number) => ({ id: 's', lastUsedAt, sleep: { residualMiB: GiB, hostRamMiB: ram * GiB } });
    expect(hostRamRoom(held, s(5, 8), 32 * GiB)).toEqual([]); // 24 held + 8 fits 32
    expect(hostRamRoom(held, s(5, 8), 24 * GiB)).toEqual(['older']);
    expect(hostRamRoom(held, s(5, 16), 24 * GiB)).toEqual(['older', 'old']);
    expect(hostRamRoom(held, s(5, 24), 24 * GiB)).toBeNull(); // 'newer' is used more recently: it stays
    expect(hostRamRoom(held, s(Infinity, 24), 24 * GiB)).toEqual(['older', 'old', 'newer']); // asked by hand: the newest
    expect(hostRamRoom(held, s(Infinity, 25), 24 * GiB)).toBeNull(); // more than the whole budget
    expect(hostRamRoom([sleeper('p', 1, 8, { pinned: true })], s(Infinity, 8), 8 * GiB)).toBeNull();
    expect(hostRamRoom(held, s(5, 0), 0)).toEqual([]); // level 2 holds no host RAM
  });
});

// ---- turn-taking -----------------------------------------------------------------------------

const GPU = [gpu(0)];
const holder = (id: string, gib: number, over: Partial<HolderFacts> = {}): HolderFacts => ({
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
const wants = (id: string, gib: number, since: number | null, over: Partial<ContenderFacts> = {}): ContenderFacts => ({
  id,
  budgetMiB: gib * GiB,
  gpus: 'auto',
  since,
  ...over,
});
const decide = (holders: HolderFacts[], contenders: ContenderFacts[], hostRamBudgetMiB?: number) =>
  decideMemory({
    now: 100 * S,
    gpus: GPU,
    reserveMiB: RESERVE,
    holders,
    contenders,
    swapAfterMs: 30 * S,
    idleGraceMs: 500,
    hostRamBudgetMiB,
  });

describe('turn-taking: sleepers', () => {
  const canSleep = { sleep: { residualMiB: 1 * GiB, hostRamMiB: 14 * GiB } };

  it('an idle model that can sleep is put to sleep for the start, which waits until it is asleep', () => {
    const d = decide([holder('a', 14, canSleep)], [wants('b', 14, 99 * S)]);
    expect(d.sleep).toEqual([{ id: 'a', for: 'b' }]);
    expect(d.evict).toEqual([]);
    expect(d.place).toEqual([]);
    expect(d.waiting.get('b')).toEqual({ reason: 'putting a to sleep', blockedBy: ['a'] });
  });

  it('while it falls asleep nothing is placed on its GPU; once asleep the start is placed beside its residue', () => {
    const falling = decide([holder('a', 1, { ...canSleep, phase: 'falling-asleep' })], [wants('b', 14, 99 * S)]);
    expect([falling.place, falling.sleep, falling.evict]).toEqual([[], [], []]);
    expect(falling.waiting.get('b')).toEqual({ reason: 'putting a to sleep', blockedBy: ['a'] });
    const asleep = decide([holder('a', 1, { ...canSleep, phase: 'sleeping' })], [wants('b', 14, 99 * S)]);
    expect(asleep.place).toEqual([{ id: 'b', gpuIndices: [0] }]);
  });

  it('the host RAM budget decides between sleep and stop', () => {
    const d = decide([holder('a', 14, canSleep)], [wants('b', 14, 99 * S)], 8 * GiB);
    expect([d.sleep, d.evict]).toEqual([[], [{ id: 'a', for: 'b' }]]);
  });

  it('a sleeper is stopped when its residue is needed; a waking model is never a candidate', () => {
    const d = decide([holder('s', 3, { ...canSleep, phase: 'sleeping' }), holder('w', 3, { phase: 'waking' })], [wants('b', 20, 99 * S)]);
    expect(d.evict).toEqual([{ id: 's', for: 'b' }]);
    expect(d.waiting.get('b')).toEqual({ reason: 'stopping s', blockedBy: ['s'] });
  });

  it('a second start behind the first sees the slept model as a residue, not as free memory', () => {
    const d = decide([holder('a', 20, canSleep)], [wants('b', 10, 90 * S), wants('c', 12, 95 * S)]);
    expect(d.sleep).toEqual([{ id: 'a', for: 'b' }]);
    // 23.5 − 1 (a asleep) − 10 (b's claim) = 12.5: c fits beside them once a is asleep.
    expect(d.waiting.get('c')).toEqual({ reason: 'putting a to sleep', blockedBy: ['a'] });
  });
});
