import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../gateway/ollama/json-depth.js';

const nested = (n: number, open: string, close: string) => JSON.parse(open.repeat(n) + '1' + close.repeat(n));

describe('nestsDeeperThan', () => {
  it('counts objects and arrays alike; scalars nest nothing', () => {
    expect(nestsDeeperThan(1, 0)).toBe(false);
    expect(nestsDeeperThan('x', 0)).toBe(false);
    expect(nestsDeeperThan(null, 0)).toBe(false);
    expect(nestsDeeperThan({}, 1)).toBe(false);
    expect(nestsDeeperThan({}, 0)).toBe(true);
    expect(nestsDeeperThan(nested(3, '{"a":', '}'), 3)).toBe(false);
    expect(nestsDeeperThan(nested(3, '{"a":', '}'), 2)).toBe(true);
    expect(nestsDeeperThan(nested(3, '[', ']'), 2)).toBe(true);
  });

  it('finds the deep branch beside shallow ones', () => {
    const v = { a: 1, b: [1, 2, { c: 'x' }], d: { e: nested(10, '[', ']') } };
    expect(nestsDeeperThan(v, 12)).toBe(false);
    expect(nestsDeeperThan(v, 11)).toBe(true);
  });

  it('walks any depth without recursion (100 000 levels)', () => {
    expect(nestsDeeperThan(nested(100_000, '[', ']'), MAX_JSON_DEPTH)).toBe(true);
  });
});
