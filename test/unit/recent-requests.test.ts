import { describe, expect, it } from 'vitest';
import { RecentRing } from '../../gateway/recent-requests.js';

describe('RecentRing', () => {
  it('lists what was added, newest first', () => {
    const r = new RecentRing<number>(3);
    expect(r.list()).toEqual([]);
    r.add(1);
    r.add(2);
    expect(r.list()).toEqual([2, 1]);
  });

  it('keeps only the last `capacity` items, across many wraps', () => {
    const r = new RecentRing<number>(3);
    for (let i = 1; i <= 10; i++) r.add(i);
    expect(r.list()).toEqual([10, 9, 8]);
    r.add(11);
    expect(r.list()).toEqual([11, 10, 9]);
  });

  it('with capacity 0 keeps nothing', () => {
    const r = new RecentRing<number>(0);
    r.add(1);
    expect(r.list()).toEqual([]);
  });
});
