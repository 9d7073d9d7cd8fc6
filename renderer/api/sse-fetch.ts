// Server-Sent Events over fetch + ReadableStream, for when the stream needs a header that
// EventSource cannot send (`Authorization: Bearer …` once the gateway has API keys set).
// Parses `event:` / `data:` / `id:` / `retry:` lines as the SSE spec does and reconnects with a
// capped exponential backoff until the signal aborts.

export interface SseEvent {
  type: string;
  data: string;
}

export interface SseOptions {
  url: string;
  headers?: HeadersInit;
  signal: AbortSignal;
  onEvent(ev: SseEvent): void;
  /** Called with every failed attempt (HTTP status or transport error); the stream retries. */
  onError?(err: { status: number | null; message: string }): void;
  fetch?: typeof fetch;
  /** First reconnect delay; doubles per failure up to maxDelayMs, back to this after an event. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Replaces setTimeout (tests). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Incremental SSE parser: feed it text chunks, it calls onEvent per dispatched event. */
export class SseParser {
  private buf = '';
  private type = '';
  private data: string[] = [];
  /** The last `retry:` value the server sent, if any. */
  retryMs: number | null = null;

  constructor(private readonly onEvent: (ev: SseEvent) => void) {}

  push(chunk: string): void {
    this.buf += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone \r at the very end may be the first half of \r\n: wait for the next chunk.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  /** The stream ended: an event without its blank line is dropped, as the spec says. */
  reset(): void {
    this.buf = '';
    this.type = '';
    this.data = [];
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onEvent({ type: this.type || 'message', data: this.data.join('\n') });
      this.type = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
  }
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Reads the stream until signal aborts, reconnecting after every end or failure. */
export async function readSse(opts: SseOptions): Promise<void> {
  const fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const sleep = opts.sleep ?? defaultSleep;
  const minDelay = opts.minDelayMs ?? 500;
  const maxDelay = opts.maxDelayMs ?? 15_000;
  const { signal } = opts;
  let delay = minDelay;
  const parser = new SseParser((ev) => {
    delay = minDelay; // the connection works: the next drop retries quickly
    opts.onEvent(ev);
  });

  while (!signal.aborted) {
    try {
      const headers = new Headers(opts.headers);
      headers.set('Accept', 'text/event-stream');
      const res = await fetchImpl(opts.url, { headers, signal, cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok || !res.body) {
        opts.onError?.({ status: res.status, message: `${res.status} ${res.statusText}`.trim() });
        await res.body?.cancel().catch(() => undefined);
      } else {
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            parser.push(decoder.decode(value, { stream: true }));
          }
        } finally {
          parser.reset();
          reader.releaseLock();
        }
        if (!signal.aborted) opts.onError?.({ status: null, message: 'the event stream ended' });
      }
    } catch (err) {
      if (signal.aborted) break;
      opts.onError?.({ status: null, message: err instanceof Error ? err.message : String(err) });
    }
    if (signal.aborted) break;
    await sleep(parser.retryMs !== null ? Math.max(parser.retryMs, delay) : delay, signal);
    delay = Math.min(maxDelay, delay * 2);
  }
}
