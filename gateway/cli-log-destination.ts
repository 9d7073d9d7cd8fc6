// Where the CLI's log lines go. Request lines ("request done", one per request) are batched: with
// thousands of requests a second, a write(2) each would cost more than the request. Every other
// line is a lifecycle event (a model starting, ready, stopping, an adoption, a shutdown): it is
// written at once, synchronously, after any batched lines before it, so it is on the way to the
// terminal or file before the gateway acts on what it announces, and a SIGKILL a moment later
// cannot lose it.

import pino from 'pino';

const REQUEST_LINE_END = '"msg":"request done"}\n';
const BATCH_BYTES = 16 * 1024;
const BATCH_MS = 100;

export interface CliLogDestination extends pino.DestinationStream {
  /** Writes the batched lines now (pino's logger.flush() calls it). */
  flush(cb?: (err?: Error) => void): void;
}

export function cliLogDestination(fd = 1): CliLogDestination {
  const out = pino.destination({ dest: fd, sync: true });
  let pending = '';
  const flushNow = () => {
    if (pending.length === 0) return;
    const lines = pending;
    pending = '';
    out.write(lines);
  };
  setInterval(flushNow, BATCH_MS).unref();
  process.on('exit', flushNow);
  return {
    write(line: string) {
      if (line.endsWith(REQUEST_LINE_END)) {
        pending += line;
        if (pending.length >= BATCH_BYTES) flushNow();
        return;
      }
      const lines = pending + line;
      pending = '';
      out.write(lines);
    },
    flush(cb) {
      flushNow();
      cb?.();
    },
  };
}
