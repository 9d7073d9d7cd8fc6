// Placement (pure): where a model starts and which idle models are evicted, least recently used
// first; busy, pinned, starting models are never candidates; wait vs impossible.

import { describe, expect, it } from 'vitest';
import {
  availableMiB,
  gpuMemoryUtilization,
  planPlacement,
  type PlacedModel,
  type PlacementGpu,
} from '../../gateway/scheduler/placement.js';

const GiB = 1024;
const gpu = (index: number, totalGiB = 24, over: Partial<PlacementGpu> = {}): PlacementGpu => ({
  index,
  totalMiB: totalGiB * GiB,
  reservedMiB: 0,
  otherMiB: 0,
  ...over,
});
const placed = (id: string, budgetGiB: number, over: Partial<PlacedModel> = {}): PlacedModel => ({
  id,
  gpus: [0],
  budgetMiB: budgetGiB * GiB,
  lastUsedAt: 0,
  busy: false,
  pinned: false,
  evictable: true,
  ...over,
});
const req = (id: string, budgetGiB: number, gpus: 'auto' | number[] = 'auto') => ({ id, budgetMiB: budgetGiB * GiB, gpus });
const RESERVE = 512;

describe('availableMiB', () => {
  it('is total − reserved − reserve − other − budgets placed on that GPU', () => {
    const g = gpu(0, 24, { reservedMiB: 100, otherMiB: 1000 });
    expect(availableMiB(g, RESERVE, [placed('a', 10), placed('b', 4, { gpus: [1] })])).toBe(24 * GiB - 100 - RESERVE - 1000 - 10 * GiB);
  });
});

describe('planPlacement', () => {
  it('fits without eviction when there is room', () => {
    expect(planPlacement([gpu(0)], RESERVE, [placed('a', 10)], req('n', 10))).toEqual({ kind: 'fit', gpuIndices: [0], evict: [] });
  });

  it('fits exactly at the boundary, and not one MiB over', () => {
    const exact = (24 * GiB - RESERVE - 10 * GiB) / GiB;
    expect(
      planPlacement([gpu(0)], RESERVE, [placed('a', 10, { busy: true })], { id: 'n', budgetMiB: exact * GiB, gpus: 'auto' }).kind,
    ).toBe('fit');
    expect(
      planPlacement([gpu(0)], RESERVE, [placed('a', 10, { busy: true })], { id: 'n', budgetMiB: exact * GiB + 1, gpus: 'auto' }).kind,
    ).toBe('wait');
  });

  it('evicts the least recently used idle models, only as many as needed', () => {
    const models = [placed('new', 6, { lastUsedAt: 300 }), placed('old', 6, { lastUsedAt: 100 }), placed('mid', 6, { lastUsedAt: 200 })];
    // 23.5 GiB usable, 18 held: 5.5 free; a 10 GiB start needs one 6 GiB eviction.
    expect(planPlacement([gpu(0)], RESERVE, models, req('n', 10))).toEqual({ kind: 'fit', gpuIndices: [0], evict: ['old'] });
    expect(planPlacement([gpu(0)], RESERVE, models, req('n', 14))).toEqual({ kind: 'fit', gpuIndices: [0], evict: ['old', 'mid'] });
  });

  it('never evicts busy (P10), pinned, or not-yet-ready models', () => {
    const models = [
      placed('busy', 6, { lastUsedAt: 1, busy: true }),
      placed('pinned', 6, { lastUsedAt: 2, pinned: true }),
      placed('starting', 6, { lastUsedAt: 3, evictable: false }),
      placed('idle', 5, { lastUsedAt: 999 }),
    ];
    expect(planPlacement([gpu(0)], RESERVE, models, req('n', 5))).toEqual({ kind: 'fit', gpuIndices: [0], evict: ['idle'] });
  });

  it('waits when only busy or starting models hold the memory', () => {
    const models = [placed('busy', 10, { busy: true }), placed('starting', 10, { evictable: false })];
    const plan = planPlacement([gpu(0)], RESERVE, models, req('n', 10));
    expect(plan.kind).toBe('wait');
  });

  it('is impossible when pinned models and other processes hold too much, or the GPU is too small', () => {
    expect(
      planPlacement([gpu(0)], RESERVE, [placed('p1', 10, { pinned: true }), placed('p2', 10, { pinned: true })], req('n', 10)).kind,
    ).toBe('impossible');
    expect(planPlacement([gpu(0, 24, { otherMiB: 20 * GiB })], RESERVE, [], req('n', 10)).kind).toBe('impossible');
    const plan = planPlacement([gpu(0)], RESERVE, [], req('n', 30));
    expect(plan.kind).toBe('impossible');
    expect(plan.kind === 'impossible' && plan.reason).toMatch(/30\.0 GiB/);
  });

  it('without GPUs, nothing can be placed', () => {
    expect(planPlacement([], RESERVE, [], req('n', 1)).kind).toBe('impossible');
  });

  it('gpus: auto prefers a GPU that fits without eviction, then the most room left', () => {
    const gpus = [gpu(0), gpu(1), gpu(2, 48)];
    const models = [placed('a', 20, { gpus: [0] }), placed('b', 4, { gpus: [1] })];
    expect(planPlacement(gpus, RESERVE, models, req('n', 10))).toEqual({ kind: 'fit', gpuIndices: [2], evict: [] });
    const full = [placed('a', 20, { gpus: [0] }), placed('b', 16, { gpus: [1] }), placed('c', 40, { gpus: [2] })];
    // Each GPU needs one eviction; any single one is fine.
    const plan = planPlacement(gpus, RESERVE, full, req('n', 10));
    expect(plan.kind).toBe('fit');
    expect(plan.kind === 'fit' && plan.evict).toHaveLength(1);
  });

  it('explicit GPUs need the budget on each of them; unknown indices are impossible', () => {
    const gpus = [gpu(0), gpu(1)];
    const models = [placed('on1', 20, { gpus: [1] })];
    expect(planPlacement(gpus, RESERVE, models, req('n', 10, [0, 1]))).toEqual({ kind: 'fit', gpuIndices: [0, 1], evict: ['on1'] });
    expect(planPlacement(gpus, RESERVE, [], req('n', 10, [0]))).toEqual({ kind: 'fit', gpuIndices: [0], evict: [] });
    expect(planPlacement(gpus, RESERVE, [], req('n', 1, [3])).kind).toBe('impossible');
  });

  it('a model spanning two GPUs is freed from both when evicted', () => {
    const gpus = [gpu(0), gpu(1)];
    const models = [placed('wide', 20, { gpus: [0, 1] })];
    expect(planPlacement(gpus, RESERVE, models, req('n', 10))).toMatchObject({ kind: 'fit', evict: ['wide'] });
  });

  it('ignores an existing placement of the model being started', () => {
    expect(planPlacement([gpu(0)], RESERVE, [placed('n', 20)], req('n', 20))).toEqual({ kind: 'fit', gpuIndices: [0], evict: [] });
  });
});

describe('gpuMemoryUtilization', () => {
  it('is vramGiB ÷ total, floored to 2 decimals, at least 0.01, at most 1', () => {
    expect(gpuMemoryUtilization(10, 24 * GiB)).toBe(0.41); // 0.41666…
    expect(gpuMemoryUtilization(12, 24 * GiB)).toBe(0.5);
    expect(gpuMemoryUtilization(20, 143771)).toBe(0.14);
    expect(gpuMemoryUtilization(0.001, 24 * GiB)).toBe(0.01);
    expect(gpuMemoryUtilization(30, 24 * GiB)).toBe(1);
    expect(gpuMemoryUtilization(7.2, 24 * GiB)).toBe(0.3); // 0.3 exactly, not 0.29 from float error
  });
});
