import { describe, expect, it } from 'vitest';
import { DEFAULT_HOST_BACKOFF, reconnectDelayMs } from '../../gateway/hosts/reconnect-backoff.js';

describe('reconnect backoff', () => {
  const policy = { initialMs: 1000, maxMs: 8000, factor: 2 };
  it('doubles per failure up to the cap, half fixed and half random', () => {
    const low = (n: number) => reconnectDelayMs(policy, n, () => 0);
    const high = (n: number) => reconnectDelayMs(policy, n, () => 0.999999);
    expect([1, 2, 3, 4, 5, 9].map(low)).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    expect([1, 2, 3, 4, 5].map(high)).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(reconnectDelayMs(policy, 2, () => 0.5)).toBe(1500);
  });
  it('treats 0 or fractional failures as the first and clamps a bad random source', () => {
    expect(reconnectDelayMs(policy, 0, () => 0)).toBe(500);
    expect(reconnectDelayMs(policy, 2.7, () => 0)).toBe(1000);
    expect(reconnectDelayMs(policy, 1, () => 7)).toBe(1000);
  });
  it('defaults to 0.5 s growing to 30 s', () => {
    expect(reconnectDelayMs(DEFAULT_HOST_BACKOFF, 1, () => 1)).toBe(500);
    expect(reconnectDelayMs(DEFAULT_HOST_BACKOFF, 20, () => 1)).toBe(30_000);
  });
});
