// The dashboard's fetch-based SSE reader (used when the stream needs an Authorization header):
// parsing across chunk boundaries and line endings, and reconnecting with backoff. Runs under Node
// (its fetch and ReadableStream are the browser's API); no browser needed.
import { describe, expect, it } from 'vitest';
import { readSse, SseParser, type SseEvent } from '../../renderer/api/sse-fetch.js';

function parseAll(chunks: string[]): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  for (const c of chunks) p.push(c);
  return out;
}

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(ctrl) {
      for (const c of chunks) ctrl.enqueue(enc.encode(c));
      ctrl.close();
    },
  });
}

describe('SseParser', () => {
  it('dispatches event/data pairs on blank lines, whatever the chunking and line endings', () => {
    const text = 'event: status\ndata: {"a":1}\n\n: keep-alive\n\nevent: status\r\ndata: {"a":2}\r\n\r\nevent:status\rdata:{"a":3}\r\r\n'; // a CR at the very end may be half of CRLF: it waits for the next byte
    const expected = [1, 2, 3].map((a) => ({ type: 'status', data: `{"a":${a}}` }));
    expect(parseAll([text])).toEqual(expected);
    expect(parseAll(text.split(''))).toEqual(expected); // one character at a time, \r\n split too
  });

  it('joins multi-line data, defaults the type to message, drops an event cut off by the end', () => {
    const p: SseEvent[] = [];
    const parser = new SseParser((e) => p.push(e));
    parser.push('data: line 1\ndata: line 2\n\nevent: status\ndata: partial\n');
    parser.reset();
    parser.push('retry: 2500\n\n');
    expect(p).toEqual([{ type: 'message', data: 'line 1\nline 2' }]);
    expect(parser.retryMs).toBe(2500);
  });
});

describe('readSse', () => {
  it('sends the headers, delivers events, and reconnects with growing delays until aborted', async () => {
    const ctrl = new AbortController();
    const seen: string[] = [];
    const auth: Array<string | null> = [];
    const delays: number[] = [];
    const errors: Array<number | null> = [];
    let calls = 0;
    const fakeFetch = (async (_url: string, init: RequestInit) => {
      calls++;
      auth.push(new Headers(init.headers).get('authorization'));
      if (calls === 1) return new Response('{"error":{}}', { status: 401 });
      if (calls === 2) throw new TypeError('fetch failed');
      if (calls === 3) return new Response(streamOf(['event: status\nda', 'ta: {"n":3}\n\n']), { status: 200 });
      return new Response(streamOf(['event: status\ndata: {"n":4}\n\n']), { status: 200 });
    }) as unknown as typeof fetch;

    await readSse({
      url: 'http://gw/gateway/events',
      headers: { Authorization: 'Bearer tok' },
      signal: ctrl.signal,
      fetch: fakeFetch,
      minDelayMs: 100,
      maxDelayMs: 300,
      onEvent: (e) => {
        seen.push(e.data);
        if (seen.length === 2) ctrl.abort();
      },
      onError: (e) => errors.push(e.status),
      sleep: async (ms) => void delays.push(ms),
    });

    expect(seen).toEqual(['{"n":3}', '{"n":4}']);
    expect(auth).toEqual(['Bearer tok', 'Bearer tok', 'Bearer tok', 'Bearer tok']);
    expect(errors).toEqual([401, null, null]); // refused, unreachable, stream ended
    // 100 after the 401, 200 after the transport error, back to 100 after an event arrived.
    expect(delays).toEqual([100, 200, 100]);
  });
});
