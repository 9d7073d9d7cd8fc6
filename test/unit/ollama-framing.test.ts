// NDJSON out of SSE whatever the TCP chunking: events split anywhere, UTF-8 characters split
// between chunks, CRLF line ends, an unterminated last event; and the transform's heads.

import { describe, expect, it } from 'vitest';
import { SseDecoder } from '../../gateway/ollama/sse-decoder.js';
import { EmbeddingTransform, GenerationTransform } from '../../gateway/ollama/ollama-transforms.js';

const sse = (objs: unknown[]) => objs.map((o) => `data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`).join('');
const TOKENS = ['h', 'é', 'llo', ' w', 'ö', 'rld', ' 你', '好', ' 🚀'];
const BODY = Buffer.from(
  sse([
    { choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
    ...TOKENS.map((t, i) => ({ choices: [{ index: 0, delta: { content: t }, finish_reason: i === TOKENS.length - 1 ? 'stop' : null }] })),
    { choices: [], usage: { prompt_tokens: 3, completion_tokens: TOKENS.length } },
    '[DONE]',
  ]),
);

function transform(stream = true) {
  let t = 0;
  return new GenerationTransform(
    { kind: 'chat', model: 'm', thinking: true, timings: { startedMs: 0, admittedMs: 0 }, now: () => (t += 1), date: () => new Date(0) },
    stream,
  );
}

/** Runs BODY through a transform in the given pieces; returns every byte it wrote. */
function run(pieces: Buffer[], stream = true): { out: string; head: unknown; writes: string[] } {
  const tr = transform(stream);
  const head = tr.head(200, { 'content-type': 'text/event-stream; charset=utf-8' });
  const writes: string[] = [];
  for (const p of pieces) {
    const w = tr.data(p);
    if (w) writes.push(String(w));
  }
  const end = tr.end();
  if (end.body) writes.push(String(end.body));
  return { out: writes.join(''), head: head ?? end.head, writes };
}

describe('SseDecoder', () => {
  it('finds the same events whatever the chunking, byte by byte included', () => {
    const whole = new SseDecoder().push(BODY);
    expect(whole).toHaveLength(TOKENS.length + 3);
    const one = new SseDecoder();
    const got: string[] = [];
    for (let i = 0; i < BODY.length; i++) got.push(...one.push(BODY.subarray(i, i + 1)));
    got.push(...one.end());
    expect(got).toEqual(whole);
  });

  it('CRLF line ends, multi-line data, comments and other fields, an unterminated last event', () => {
    const d = new SseDecoder();
    const events = d.push(Buffer.from(': vllm-gateway queued\r\nevent: x\r\ndata: a\r\ndata: b\r\n\r\nid: 1\r\ndata:c'));
    expect(events).toEqual(['a\nb']);
    expect(d.end()).toEqual(['c']);
  });

  it('keeps a UTF-8 character split between chunks whole', () => {
    const bytes = Buffer.from('data: "🚀é"\n\n');
    const d = new SseDecoder();
    const rocket = bytes.indexOf(0xf0);
    expect(d.push(bytes.subarray(0, rocket + 2))).toEqual([]);
    expect(d.push(bytes.subarray(rocket + 2))).toEqual(['"🚀é"']);
  });
});

describe('GenerationTransform framing', () => {
  const expected = run([BODY]).out;

  it('one NDJSON object per line, every line complete, the last one done', () => {
    const lines = expected.split('\n');
    expect(lines.at(-1)).toBe('');
    const objs = lines.slice(0, -1).map((l) => JSON.parse(l));
    expect(objs.map((o) => o.message.content).join('')).toBe(TOKENS.join(''));
    expect(objs.slice(0, -1).every((o) => o.done === false)).toBe(true);
    expect(objs.at(-1)).toMatchObject({ done: true, done_reason: 'stop', prompt_eval_count: 3, eval_count: TOKENS.length });
  });

  it('every split point of the body (two chunks) gives the same bytes, each write whole lines', () => {
    for (let cut = 1; cut < BODY.length; cut++) {
      const r = run([BODY.subarray(0, cut), BODY.subarray(cut)]);
      expect(r.out.replace(/"total_duration":\d+|"eval_duration":\d+|"prompt_eval_duration":\d+/g, '')).toBe(
        expected.replace(/"total_duration":\d+|"eval_duration":\d+|"prompt_eval_duration":\d+/g, ''),
      );
      for (const w of r.writes) expect(w.endsWith('\n')).toBe(true);
    }
  });

  it('byte-by-byte chunks: multi-byte characters arrive intact', () => {
    const r = run([...BODY].map((b) => Buffer.from([b])));
    const text = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).message.content)
      .join('');
    expect(text).toBe('héllo wörld 你好 🚀');
  });

  it('heads: NDJSON flushed at once when streaming; one JSON object with its length otherwise', () => {
    expect(run([BODY]).head).toEqual({ status: 200, headers: { 'content-type': 'application/x-ndjson' }, flush: true });
    const r = run([BODY.subarray(0, 100), BODY.subarray(100)], false);
    expect(r.writes).toHaveLength(1);
    expect(r.head).toEqual({
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(r.out)) },
      flush: false,
    });
    expect(JSON.parse(r.out)).toMatchObject({ message: { content: TOKENS.join('') }, done: true });
  });

  it('an upstream error status keeps its status, with its message in Ollama’s shape', () => {
    const tr = transform();
    expect(tr.head(400, { 'content-type': 'application/json' })).toBeNull();
    tr.data(Buffer.from('{"object":"error","message":"maximum context length is 8192 tokens",'));
    tr.data(Buffer.from('"type":"BadRequestError","param":null,"code":400}'));
    const end = tr.end();
    expect(end.head?.status).toBe(400);
    expect(JSON.parse(String(end.body))).toEqual({ error: 'maximum context length is 8192 tokens' });
  });

  it('an error event inside the stream: its own {"error"} line, and no done line after it', () => {
    const tr = transform();
    tr.head(200, { 'content-type': 'text/event-stream' });
    const a = tr.data(Buffer.from(sse([{ choices: [{ index: 0, delta: { content: 'x' } }] }, { error: { message: 'boom', code: 500 } }])));
    const lines = String(a)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toEqual({ error: 'boom' });
    expect(tr.end().body).toBeNull();
  });

  it('an upstream cut mid-stream: fail() gives the closing {"error"} line; a gathered answer has none (the proxy answers 502)', () => {
    const streamed = transform();
    streamed.head(200, { 'content-type': 'text/event-stream' });
    streamed.data(Buffer.from(sse([{ choices: [{ index: 0, delta: { content: 'x' } }] }])));
    expect(streamed.fail({ message: 'The model server failed while sending its answer (UND_ERR_SOCKET)' })).toBe(
      '{"error":"The model server failed while sending its answer (UND_ERR_SOCKET)"}\n',
    );
    const whole = transform(false);
    whole.head(200, { 'content-type': 'text/event-stream' });
    expect(whole.fail({ message: 'x' })).toBeNull();
  });

  it('an upstream that answers JSON although asked to stream is still translated', () => {
    const tr = transform();
    expect(tr.head(200, { 'content-type': 'application/json' })).toBeNull();
    tr.data(
      Buffer.from(
        JSON.stringify({
          choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 1, completion_tokens: 1 },
        }),
      ),
    );
    const end = tr.end();
    expect(end.head?.headers['content-type']).toBe('application/x-ndjson');
    const lines = String(end.body)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0].message.content).toBe('hi');
    expect(lines.at(-1)).toMatchObject({ done: true, eval_count: 1 });
  });
});

describe('EmbeddingTransform', () => {
  it('gathers the body across chunks and answers once', () => {
    const tr = new EmbeddingTransform({
      model: 'e',
      legacy: false,
      dimensions: null,
      timings: { startedMs: 0, admittedMs: 0 },
      now: () => 1,
    });
    expect(tr.head(200)).toBeNull();
    const body = Buffer.from(JSON.stringify({ data: [{ index: 0, embedding: [3, 4] }], usage: { prompt_tokens: 2 } }));
    expect(tr.data(body.subarray(0, 7))).toBeNull();
    expect(tr.data(body.subarray(7))).toBeNull();
    const end = tr.end();
    expect(end.head.status).toBe(200);
    expect(JSON.parse(end.body)).toMatchObject({ model: 'e', embeddings: [[0.6, 0.8]], prompt_eval_count: 2 });
  });
});
