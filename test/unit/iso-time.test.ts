import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { isoTime, pinoIsoTime } from '../../gateway/iso-time.js';

describe('isoTime', () => {
  it('writes exactly what Date#toISOString writes', () => {
    const cases = [
      0,
      1,
      999,
      1000,
      1764612000000, // 2025-12-01T18:00:00.000Z
      1764612000009,
      1764612000099,
      1764612000100,
      1764612059999, // a minute boundary follows
      1764612060000,
      Date.UTC(2024, 1, 29, 23, 59, 59, 999), // leap day, then a new month
      Date.UTC(2024, 2, 1, 0, 0, 0, 0),
      Date.UTC(1999, 11, 31, 23, 59, 59, 998),
      -1, // before the epoch: the milliseconds count forward from the second below
      -1001,
    ];
    let seed = 42;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      cases.push(1700000000000 + seed * 37);
    }
    for (const ms of cases) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
  });

  it('stays right going back and forth across a second', () => {
    for (const ms of [5000, 5999, 6000, 5001, 6001, 4999]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it("gives pino the same time field as pino's own isoTime", () => {
    const re = /^,"time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"$/;
    const before = Date.now();
    const mine = re.exec(pinoIsoTime());
    const theirs = re.exec(pino.stdTimeFunctions.isoTime());
    const after = Date.now();
    expect(mine).not.toBeNull();
    expect(theirs).not.toBeNull();
    for (const m of [mine!, theirs!]) {
      const t = Date.parse(m[1]);
      expect(t).toBeGreaterThanOrEqual(before);
      expect(t).toBeLessThanOrEqual(after);
    }
  });
});
