// The Ollama ⇄ OpenAI mapping (docs/http-api.md "Ollama-compatible routes"), both ways, without sockets.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../gateway/errors.js';
import { ChatStreamConverter, embeddingsFromOpenAi, normalize, type ConverterOptions } from '../../gateway/ollama/from-openai.js';
import {
  chatToOpenAi,
  embedToOpenAi,
  generateToOpenAi,
  imageDataUrl,
  mapFormat,
  mapMessages,
  mapOptions,
  readThink,
  wantsStream,
} from '../../gateway/ollama/to-openai.js';

const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46]).toString('base64');

function status(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof GatewayError) return e.status;
    throw e;
  }
  return 0;
}

describe('Ollama request → OpenAI request', () => {
  it('options map to the OpenAI sampling fields; num_predict -1/-2/0 mean no limit', () => {
    expect(
      mapOptions({
        temperature: 0.2,
        top_p: 0.9,
        top_k: 40,
        num_predict: 128,
        stop: ['\n', 'user:'],
        seed: 7,
        repeat_penalty: 1.1,
        num_ctx: 4096,
      }),
    ).toEqual({ temperature: 0.2, top_p: 0.9, top_k: 40, max_tokens: 128, stop: ['\n', 'user:'], seed: 7, repetition_penalty: 1.1 });
    for (const n of [-1, -2, 0]) expect(mapOptions({ num_predict: n })).toEqual({});
    expect(mapOptions({ stop: 'END' })).toEqual({ stop: ['END'] });
    expect(mapOptions(undefined)).toEqual({});
    expect(status(() => mapOptions({ temperature: 'hot' }))).toBe(400);
    expect(status(() => mapOptions([1]))).toBe(400);
  });

  it('format: "json" → json_object, a schema → json_schema, "" → nothing, anything else 400', () => {
    expect(mapFormat('json')).toEqual({ response_format: { type: 'json_object' } });
    const schema = { type: 'object', properties: { age: { type: 'integer' } }, required: ['age'] };
    expect(mapFormat(schema)).toEqual({ response_format: { type: 'json_schema', json_schema: { name: 'format', schema } } });
    expect(mapFormat('')).toEqual({});
    expect(mapFormat(undefined)).toEqual({});
    expect(status(() => mapFormat('yaml'))).toBe(400);
  });

  it('images become image parts with a data URL of the sniffed type', () => {
    expect(imageDataUrl(PNG_1PX)).toBe(`data:image/png;base64,${PNG_1PX}`);
    expect(imageDataUrl(JPEG_HEAD)).toBe(`data:image/jpeg;base64,${JPEG_HEAD}`);
    const [msg] = mapMessages([{ role: 'user', content: 'what is this?', images: [PNG_1PX] }]);
    expect(msg).toEqual({
      role: 'user',
      content: [
        { type: 'text', text: 'what is this?' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1PX}` } },
      ],
    });
    expect(status(() => mapMessages([{ role: 'user', content: 'x', images: [3] }]))).toBe(400);
  });

  it('tool calls get ids and JSON-text arguments; a tool result names its call by tool_name', () => {
    const out = mapMessages([
      { role: 'user', content: 'weather in Toronto?' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Toronto' } } }] },
      { role: 'tool', content: '11 degrees', tool_name: 'get_weather' },
      { role: 'ASSISTANT', content: 'It is 11°C.', thinking: 'easy' },
    ]);
    expect(out[1]).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Toronto"}' } }],
    });
    expect(out[2]).toEqual({ role: 'tool', content: '11 degrees', name: 'get_weather', tool_call_id: 'call_1_0' });
    expect(out[3]).toEqual({ role: 'assistant', content: 'It is 11°C.', reasoning: 'easy' });
    expect(status(() => mapMessages([{ content: 'no role' }]))).toBe(400);
    expect(status(() => mapMessages('hi'))).toBe(400);
  });

  it('/api/chat → /v1/chat/completions, always streamed with usage, tools passed through, think mapped', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    const call = chatToOpenAi(
      { model: 'x:latest', messages: [{ role: 'user', content: 'hi' }], tools, options: { temperature: 0 }, format: 'json', stream: false },
      'qwen',
      true,
    );
    expect(call).toEqual({
      path: '/v1/chat/completions',
      body: {
        model: 'qwen',
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 0,
        response_format: { type: 'json_object' },
        stream: true,
        stream_options: { include_usage: true },
        chat_template_kwargs: { enable_thinking: true },
        tools,
      },
    });
    expect(chatToOpenAi({ messages: [] }, 'm', 'high').body).toMatchObject({ reasoning_effort: 'high' });
    expect(chatToOpenAi({ messages: [] }, 'm', 'max').body).toMatchObject({ reasoning_effort: 'high' });
    expect(chatToOpenAi({ messages: [] }, 'm', false).body).toMatchObject({ chat_template_kwargs: { enable_thinking: false } });
    expect(chatToOpenAi({ messages: [] }, 'm', null).body).not.toHaveProperty('chat_template_kwargs');
  });

  it('/api/generate: prompt as the user message, system as a system message; raw or suffix → /v1/completions', () => {
    expect(generateToOpenAi({ prompt: 'why?', system: 'be brief' }, 'm', null)).toEqual({
      path: '/v1/chat/completions',
      body: {
        model: 'm',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'why?' },
        ],
        stream: true,
        stream_options: { include_usage: true },
      },
    });
    expect(generateToOpenAi({ prompt: '[INST] hi [/INST]', raw: true, options: { num_predict: 5 } }, 'm', null)).toEqual({
      path: '/v1/completions',
      body: { model: 'm', prompt: '[INST] hi [/INST]', max_tokens: 5, stream: true, stream_options: { include_usage: true } },
    });
    expect(generateToOpenAi({ prompt: 'def f(', suffix: '  return x' }, 'm', null).body).toMatchObject({ suffix: '  return x' });
    expect(status(() => generateToOpenAi({ prompt: 'x', raw: true, system: 's' }, 'm', null))).toBe(400);
    expect(status(() => generateToOpenAi({ prompt: 5 }, 'm', null))).toBe(400);
  });

  it('/api/embed and /api/embeddings → /v1/embeddings', () => {
    expect(embedToOpenAi({ input: ['a', 'b'] }, 'e', false)).toEqual({
      path: '/v1/embeddings',
      body: { model: 'e', input: ['a', 'b'], encoding_format: 'float' },
    });
    expect(embedToOpenAi({ prompt: 'a' }, 'e', true).body).toMatchObject({ input: 'a' });
    expect(status(() => embedToOpenAi({ input: 3 }, 'e', false))).toBe(400);
  });

  it('stream defaults to true; think accepts booleans and levels only', () => {
    expect(wantsStream({})).toBe(true);
    expect(wantsStream({ stream: false })).toBe(false);
    expect(readThink('low')).toBe('low');
    expect(readThink(undefined)).toBeNull();
    expect(status(() => readThink('extreme'))).toBe(400);
    expect(status(() => readThink(1))).toBe(400);
  });
});

/** A converter on a fake clock: each now() call advances it by 10 ms. */
function converter(kind: 'chat' | 'generate', over: Partial<ConverterOptions> = {}) {
  let t = 1000;
  return new ChatStreamConverter({
    kind,
    model: 'm:latest',
    thinking: true,
    timings: { startedMs: 0, admittedMs: 400 },
    now: () => (t += 10),
    date: () => new Date('2026-12-01T00:00:00.000Z'),
    ...over,
  });
}
const chunk = (delta: object, finish: string | null = null) => JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] });
const usage = (p: number, c: number) =>
  JSON.stringify({ choices: [], usage: { prompt_tokens: p, completion_tokens: c, total_tokens: p + c } });

describe('OpenAI answer → Ollama answer', () => {
  it('streamed chat: one line per delta, then done with the counts and the durations in ns', () => {
    const c = converter('chat');
    expect(c.event(chunk({ role: 'assistant', content: '' }))).toEqual([]);
    expect(c.event(chunk({ content: 'Hel' }))).toEqual([
      { model: 'm:latest', created_at: '2026-12-01T00:00:00.000Z', message: { role: 'assistant', content: 'Hel' }, done: false },
    ]);
    expect(c.event(chunk({ content: 'lo' }, 'length'))[0]).toMatchObject({ message: { content: 'lo' }, done: false });
    expect(c.event(usage(12, 2))).toEqual([]);
    expect(c.event('[DONE]')).toEqual([]);
    // first token read at 1010, the end at 1020: prompt eval = 1010 - 400 ms, eval = 10 ms; load = 400 ms; total = 1020 ms
    expect(c.final()).toEqual({
      model: 'm:latest',
      created_at: '2026-12-01T00:00:00.000Z',
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'length',
      total_duration: 1_020_000_000,
      load_duration: 400_000_000,
      prompt_eval_count: 12,
      prompt_eval_duration: 610_000_000,
      eval_count: 2,
      eval_duration: 10_000_000,
    });
  });

  it('not streamed: everything in one object, thinking from reasoning (or the older reasoning_content)', () => {
    const c = converter('chat');
    c.event(chunk({ reasoning: 'hmm ' }));
    c.event(chunk({ reasoning_content: 'ok' }));
    c.event(chunk({ content: 'Yes.' }, 'stop'));
    c.event(usage(5, 3));
    expect(c.whole()).toMatchObject({
      message: { role: 'assistant', content: 'Yes.', thinking: 'hmm ok' },
      done: true,
      done_reason: 'stop',
      prompt_eval_count: 5,
      eval_count: 3,
    });
  });

  it('think: false drops any reasoning the server still sends', () => {
    const c = converter('chat', { thinking: false });
    expect(c.event(chunk({ reasoning: 'secret' }))).toEqual([]);
    c.event(chunk({ content: 'A' }, 'stop'));
    expect(c.whole().message).toEqual({ role: 'assistant', content: 'A' });
  });

  it('tool calls streamed in fragments are sent whole, arguments as an object, once the choice finishes', () => {
    const c = converter('chat');
    expect(c.event(chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather' } }] }))).toEqual([]);
    expect(c.event(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city": "To' } }] }))).toEqual([]);
    expect(c.event(chunk({ tool_calls: [{ index: 0, function: { arguments: 'kyo"}' } }] }))).toEqual([]);
    const out = c.event(chunk({}, 'tool_calls'));
    expect(out).toHaveLength(1);
    expect(out[0].message).toEqual({
      role: 'assistant',
      content: '',
      tool_calls: [{ id: 'call_a', function: { index: 0, name: 'get_weather', arguments: { city: 'Tokyo' } } }],
    });
    expect(c.event(usage(1, 1))).toEqual([]); // not sent twice
    expect(c.final().done_reason).toBe('stop'); // Ollama says "stop" after tool calls
  });

  it('generate: `response` carries the text; /v1/completions chunks use `text`', () => {
    const c = converter('generate');
    const out = c.event(JSON.stringify({ choices: [{ index: 0, text: 'abc', finish_reason: null }] }));
    expect(out).toEqual([{ model: 'm:latest', created_at: '2026-12-01T00:00:00.000Z', response: 'abc', done: false }]);
    c.event(JSON.stringify({ choices: [{ index: 0, text: 'd', finish_reason: 'stop' }] }));
    expect(c.whole()).toMatchObject({ response: 'abcd', done: true, done_reason: 'stop' });
    expect(c.final()).toMatchObject({ response: '', done: true });
  });

  it('an error inside the stream becomes one {"error"} line and ends the translation', () => {
    const c = converter('chat');
    expect(c.event(JSON.stringify({ error: { message: 'engine died', type: 'InternalServerError', code: 500 } }))).toEqual([
      { error: 'engine died' },
    ]);
    expect(c.error).toBe('engine died');
    expect(c.event(chunk({ content: 'late' }))).toEqual([]);
  });

  it('embeddings: ordered by index, normalised (as Ollama does), cut to `dimensions`; legacy keeps one vector', () => {
    const body = {
      data: [
        { index: 1, embedding: [0, 3, 4] },
        { index: 0, embedding: [2, 0, 0] },
      ],
      usage: { prompt_tokens: 4 },
    };
    const timings = { startedMs: 0, admittedMs: 100 };
    expect(embeddingsFromOpenAi(body, { model: 'e', legacy: false, dimensions: null, timings, now: 300 })).toEqual({
      model: 'e',
      embeddings: [
        [1, 0, 0],
        [0, 0.6, 0.8],
      ],
      total_duration: 300_000_000,
      load_duration: 100_000_000,
      prompt_eval_count: 4,
    });
    expect(embeddingsFromOpenAi(body, { model: 'e', legacy: false, dimensions: 2, timings, now: 300 }).embeddings).toEqual([
      [1, 0],
      [0, 1],
    ]);
    expect(embeddingsFromOpenAi(body, { model: 'e', legacy: true, dimensions: null, timings, now: 300 })).toEqual({ embedding: [2, 0, 0] });
    expect(normalize([0, 0])).toEqual([0, 0]);
  });
});
