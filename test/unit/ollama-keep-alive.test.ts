// keep_alive as Ollama parses it (api/types.go Duration.UnmarshalJSON, Go's time.ParseDuration).

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../gateway/errors.js';
import { parseGoDuration, parseKeepAlive } from '../../gateway/ollama/keep-alive.js';

describe('parseGoDuration', () => {
  it('reads Go durations: units, sums, fractions, signs', () => {
    expect(parseGoDuration('5m')).toBe(300);
    expect(parseGoDuration('1h30m')).toBe(5400);
    expect(parseGoDuration('1.5h')).toBe(5400);
    expect(parseGoDuration('2h45m10s')).toBe(9910);
    expect(parseGoDuration('300ms')).toBeCloseTo(0.3, 9);
    expect(parseGoDuration('10us')).toBeCloseTo(1e-5, 12);
    expect(parseGoDuration('10µs')).toBeCloseTo(1e-5, 12);
    expect(parseGoDuration('.5s')).toBe(0.5);
    expect(parseGoDuration('-1m')).toBe(-60);
    expect(parseGoDuration('+2s')).toBe(2);
    expect(parseGoDuration('0')).toBe(0);
  });

  it("refuses what Go refuses, in Go's words", () => {
    expect(() => parseGoDuration('300')).toThrow('time: missing unit in duration "300"');
    expect(() => parseGoDuration('5 m')).toThrow(/unknown unit " m"/);
    expect(() => parseGoDuration('5d')).toThrow('time: unknown unit "d" in duration "5d"');
    expect(() => parseGoDuration('')).toThrow('time: invalid duration ""');
    expect(() => parseGoDuration('.s')).toThrow('time: invalid duration ".s"');
    expect(() => parseGoDuration('m')).toThrow('time: invalid duration "m"');
    // Past math.MaxInt64 nanoseconds (~2562047h): Go's overflow error.
    expect(() => parseGoDuration('9999999999h')).toThrow('time: invalid duration "9999999999h"');
    expect(parseGoDuration('2562047h')).toBe(2562047 * 3600);
  });
});

describe('parseKeepAlive', () => {
  it('numbers are seconds; negative numbers and durations mean keep loaded', () => {
    expect(parseKeepAlive(0)).toBe(0);
    expect(parseKeepAlive(30)).toBe(30);
    expect(parseKeepAlive(2.5)).toBe(2.5);
    expect(parseKeepAlive(-1)).toBe(Infinity);
    expect(parseKeepAlive('-1m')).toBe(Infinity);
    expect(parseKeepAlive('0')).toBe(0);
    expect(parseKeepAlive('10m')).toBe(600);
  });

  it("a number past Go's largest duration means keep loaded, like a negative one (one value for one meaning)", () => {
    expect(parseKeepAlive(1e308)).toBe(Infinity);
    expect(parseKeepAlive(2 ** 63 / 1e9 + 1)).toBe(Infinity);
    expect(parseKeepAlive(2 ** 63 / 1e9)).toBe(2 ** 63 / 1e9);
  });

  it('absent or null: no override', () => {
    expect(parseKeepAlive(undefined)).toBeNull();
    expect(parseKeepAlive(null)).toBeNull();
  });

  it('a unitless string or another type is a 400', () => {
    for (const bad of ['300', true, {}, [1]]) {
      let err: unknown;
      try {
        parseKeepAlive(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).status).toBe(400);
    }
    expect(() => parseKeepAlive('300')).toThrow('time: missing unit in duration "300"');
  });
});
