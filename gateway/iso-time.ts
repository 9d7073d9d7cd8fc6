// ISO-8601 UTC timestamps (as Date#toISOString writes them) for the per-request path: the log
// line's `time` and the recent-requests record. toISOString costs about a microsecond a call on
// Node 20; this formats the date and time once per second and appends the milliseconds.

let second = Number.NaN;
let prefix = '';

/** `new Date(ms).toISOString()` for ms between year 0 and 9999, cached per second. */
export function isoTime(ms: number): string {
  const rest = ms % 1000;
  const milli = rest < 0 ? rest + 1000 : rest;
  const s = ms - milli;
  if (s !== second) {
    second = s;
    prefix = new Date(s).toISOString().slice(0, 20); // "YYYY-MM-DDTHH:MM:SS."
  }
  return `${prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

/** pino's `timestamp` option writing the same `"time"` field as pino.stdTimeFunctions.isoTime. */
export const pinoIsoTime = (): string => `,"time":"${isoTime(Date.now())}"`;
