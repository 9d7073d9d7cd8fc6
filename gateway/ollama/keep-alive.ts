// `keep_alive` as Ollama reads it (api/types.go Duration.UnmarshalJSON): a JSON number is seconds,
// a string is a Go duration (time.ParseDuration: "5m", "1h30m", "1.5h", "300ms", "-1m"), and a
// negative value of either means "keep loaded until told otherwise". A string without a unit is an
// error, except "0". null or absent: no override.

import { GO_MAX_DURATION_SECONDS } from '../scheduler/idle-policy.js';
import { ollamaBadRequest } from './ollama-errors.js';

/** Seconds to keep the model after the request; Infinity = no idle stop; null = not given. */
export type KeepAlive = number | null;

const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6, // U+00B5 micro sign
  μs: 1e-6, // U+03BC Greek mu
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/** Go's time.ParseDuration, in seconds; throws Go's own message for what it refuses. */
export function parseGoDuration(text: string): number {
  const bad = (why = 'invalid duration') => new Error(`time: ${why} ${JSON.stringify(text)}`);
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw bad();
  let total = 0;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const [whole, int, frac] = m;
    if ((int === '' && (frac === undefined || frac === '')) || whole === '') throw bad();
    s = s.slice(whole.length);
    const unit = /^[^\d.]*/.exec(s)![0];
    if (unit === '') throw bad('missing unit in duration');
    const factor = UNIT_SECONDS[unit];
    if (factor === undefined) throw new Error(`time: unknown unit ${JSON.stringify(unit)} in duration ${JSON.stringify(text)}`);
    s = s.slice(unit.length);
    total += Number(`${int || '0'}.${frac || '0'}`) * factor;
    if (total > GO_MAX_DURATION_SECONDS) throw bad(); // Go's overflow: past math.MaxInt64 nanoseconds
  }
  return sign * total;
}

/** The request's keep_alive; a bad one is a 400 in Ollama's wording. */
export function parseKeepAlive(value: unknown): KeepAlive {
  if (value === undefined || value === null) return null;
  let seconds: number;
  if (typeof value === 'number' && Number.isFinite(value)) seconds = value;
  else if (typeof value === 'string') {
    try {
      seconds = parseGoDuration(value);
    } catch (err) {
      throw ollamaBadRequest((err as Error).message);
    }
  } else throw ollamaBadRequest(`Unsupported type: '${Array.isArray(value) ? '[]interface {}' : typeof value}' for keep_alive`);
  // Past Go's largest duration (a JSON number such as 1e308) is "keep loaded" too, as the idle policy
  // reads it: one value for one meaning, so the status shows -1 for both.
  return seconds < 0 || seconds > GO_MAX_DURATION_SECONDS ? Infinity : seconds;
}
