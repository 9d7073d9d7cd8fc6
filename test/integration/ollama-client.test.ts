// The official `ollama` npm client pointed at the gateway, unchanged, on the main port and on
// listen.ollamaPort: list, ps, show, chat and generate (streamed and not), embed, tools, thinking,
// images, keep_alive (0, long, negative), load/unload with an empty request, an unknown model.

import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  baseYaml,
  cleanupAll,
  findModel,
  mockOf,
  post,
  processModel,
  startGateway,
  waitUntil,
  type TestGateway,
} from './helpers.js';

let t: TestGateway;
/** On the Ollama port, as tools configured for http://localhost:11434 reach it. */
let ollama: Ollama;
/** On the main port: the same routes. */
let main: Ollama;
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

beforeAll(async () => {
  const yaml = baseYaml(
    [
      'models:',
      processModel('llama', { extra: 'aliases: ["llama3"]\nttlSeconds: 600' }),
      processModel('smart', {
        knobs: ['--enable-auto-tool-choice', '--tool-call-parser', 'hermes', '--reasoning-parser', 'qwen3', '--max-model-len', '4096'],
      }),
      processModel('embedder', { knobs: ['--runner', 'pooling'], extra: 'ttlSeconds: 600' }),
    ].join('\n'),
  ).replace('listen: { host: 127.0.0.1, port: 0 }', 'listen: { host: 127.0.0.1, port: 0, ollamaPort: 0 }');
  t = await startGateway(yaml);
  expect(t.gw.ollamaPort).toBeGreaterThan(0);
  ollama = new Ollama({ host: `http://127.0.0.1:${t.gw.ollamaPort}` });
  main = new Ollama({ host: t.url });
});
afterAll(cleanupAll);

/** The chat-completions body the mock behind `id` received last. */
async function lastUpstreamBody(id: string): Promise<Record<string, unknown>> {
  const rec = (await (await mockOf(t, id)).received()) as Array<{ path: string; body: string }>;
  const last = rec.filter((r) => r.path.startsWith('/v1/')).at(-1)!;
  return JSON.parse(last.body);
}

describe('ollama npm client', () => {
  it('version and list: every configured model by id, sized by its vramGiB', async () => {
    expect((await ollama.version()).version).toMatch(/^\d+\.\d+\.\d+$/);
    const list = await ollama.list();
    expect(list.models.map((m) => m.name)).toEqual(['llama', 'smart', 'embedder']);
    const llama = list.models[0];
    expect(llama.model).toBe('llama');
    expect(llama.size).toBe(4 * 1024 ** 3);
    expect(llama.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(new Date(llama.modified_at).toISOString()).toBe((await t.status()).startedAt);
  });

  it('chat, not streamed: the whole message, done, counts and durations', async () => {
    const res = await ollama.chat({
      model: 'llama',
      messages: [{ role: 'user', content: 'hello' }],
      options: { num_predict: 6, temperature: 0.1 },
    });
    expect(res.model).toBe('llama');
    expect(res.message).toEqual({ role: 'assistant', content: 'héllo wörld' });
    expect(res.done).toBe(true);
    expect(res.done_reason).toBe('length');
    expect(res.eval_count).toBe(6);
    expect(res.prompt_eval_count).toBeGreaterThan(0);
    expect(res.total_duration).toBeGreaterThanOrEqual(res.load_duration);
    expect(res.load_duration).toBeGreaterThan(0); // the model was started for this request
    const up = await lastUpstreamBody('llama');
    expect(up).toMatchObject({ model: 'llama', max_tokens: 6, temperature: 0.1, stream: true, stream_options: { include_usage: true } });
  });

  it('chat, streamed, through an alias with :latest: parts as they come, the last one done', async () => {
    const stream = await main.chat({ model: 'llama3:latest', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const parts = [];
    for await (const part of stream) parts.push(part);
    expect(parts.length).toBeGreaterThan(3);
    expect(parts.slice(0, -1).every((p) => p.done === false)).toBe(true);
    expect(parts.map((p) => p.message.content).join('')).toContain('héllo wörld 你好 🚀');
    const last = parts.at(-1)!;
    expect(last).toMatchObject({ model: 'llama3:latest', done: true, done_reason: 'stop', eval_count: 16 });
    expect(last.eval_duration).toBeGreaterThan(0);
  });

  it('generate, streamed and not, with a system prompt', async () => {
    const res = await ollama.generate({ model: 'llama', prompt: 'why?', system: 'be brief', options: { num_predict: 3 } });
    expect(res).toMatchObject({ response: 'héllo', done: true, done_reason: 'length', eval_count: 3 });
    expect((await lastUpstreamBody('llama')).messages).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'why?' },
    ]);
    const stream = await ollama.generate({ model: 'llama', prompt: 'why?', stream: true, options: { num_predict: 4 } });
    let text = '';
    let done = false;
    for await (const part of stream) {
      text += part.response;
      done = part.done;
    }
    expect(text).toBe('héllo w');
    expect(done).toBe(true);
  });

  it('generate raw goes to /v1/completions', async () => {
    const res = await ollama.generate({ model: 'llama', prompt: '[INST] x [/INST]', raw: true, options: { num_predict: 2 } });
    expect(res.response).toBe('hé');
    const all = (await (await mockOf(t, 'llama')).received()) as Array<{ path: string; body: string }>;
    const rec = all.filter((r) => r.path !== '/metrics'); // the engine scraper's polls land here too
    expect(rec.at(-1)!.path).toBe('/v1/completions');
    expect(JSON.parse(rec.at(-1)!.body)).toMatchObject({ prompt: '[INST] x [/INST]', max_tokens: 2 });
  });

  it('embed (normalised vectors) and the older embeddings', async () => {
    const res = await ollama.embed({ model: 'embedder', input: ['one', 'two'] });
    expect(res.model).toBe('embedder');
    expect(res.embeddings).toHaveLength(2);
    for (const v of res.embeddings) expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    expect(res.prompt_eval_count).toBeGreaterThan(0);
    const old = await ollama.embeddings({ model: 'embedder', prompt: 'one' });
    expect(old.embedding.length).toBe(res.embeddings[0].length);
  });

  it('tools: the call comes back with its arguments as an object, streamed and not', async () => {
    const client = new Ollama({
      host: `http://127.0.0.1:${t.gw.ollamaPort}`,
      headers: { 'x-mock-tool-call': b64({ name: 'get_weather', arguments: { city: 'Tokyo' } }) },
    });
    const tools = [
      {
        type: 'function',
        function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      },
    ];
    const res = await client.chat({ model: 'smart', messages: [{ role: 'user', content: 'weather in Tokyo?' }], tools });
    expect(res.message.tool_calls).toHaveLength(1);
    expect(res.message.tool_calls![0].function).toMatchObject({ name: 'get_weather', arguments: { city: 'Tokyo' } });
    expect(res.done_reason).toBe('stop');
    expect((await lastUpstreamBody('smart')).tools).toEqual(tools);
    const stream = await client.chat({ model: 'smart', messages: [{ role: 'user', content: 'weather?' }], tools, stream: true });
    const calls = [];
    for await (const part of stream) calls.push(...(part.message.tool_calls ?? []));
    expect(calls.map((c) => c.function)).toEqual([{ index: 0, name: 'get_weather', arguments: { city: 'Tokyo' } }]);
    // A tool result named only by tool_name reaches the server with the call's id.
    await client.chat({
      model: 'smart',
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Tokyo' } } }] },
        { role: 'tool', content: '11 degrees', tool_name: 'get_weather' },
      ],
      tools,
    });
    const msgs = (await lastUpstreamBody('smart')).messages as Array<Record<string, unknown>>;
    expect(msgs[2]).toMatchObject({
      role: 'tool',
      content: '11 degrees',
      tool_call_id: (msgs[1].tool_calls as Array<{ id: string }>)[0].id,
    });
  });

  it('think: the reasoning comes back as thinking, streamed and not; think false asks for none', async () => {
    const client = new Ollama({
      host: t.url,
      headers: { 'x-mock-reasoning': b64('let me see'), 'x-mock-text': b64('42') },
    });
    const res = await client.chat({ model: 'smart', messages: [{ role: 'user', content: 'answer?' }], think: true });
    expect(res.message).toMatchObject({ content: '42', thinking: 'let me see' });
    expect((await lastUpstreamBody('smart')).chat_template_kwargs).toEqual({ enable_thinking: true });
    const stream = await client.generate({ model: 'smart', prompt: 'answer?', think: true, stream: true });
    let thinking = '';
    let response = '';
    for await (const part of stream) {
      thinking += part.thinking ?? '';
      response += part.response;
    }
    expect([thinking, response]).toEqual(['let me see', '42']);
    const none = await client.chat({ model: 'smart', messages: [{ role: 'user', content: 'answer?' }], think: false });
    expect(none.message.thinking).toBeUndefined();
    expect((await lastUpstreamBody('smart')).chat_template_kwargs).toEqual({ enable_thinking: false });
  });

  it('images reach the server as image parts', async () => {
    await ollama.chat({
      model: 'llama',
      messages: [{ role: 'user', content: 'what is it?', images: [PNG_1PX] }],
      options: { num_predict: 1 },
    });
    const msgs = (await lastUpstreamBody('llama')).messages as Array<{ content: unknown }>;
    expect(msgs[0].content).toEqual([
      { type: 'text', text: 'what is it?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1PX}` } },
    ]);
  });

  it('ps: running models with size_vram and expires_at; show: capabilities from the server flags', async () => {
    const ps = await ollama.ps();
    const names = ps.models.map((m) => m.name).sort();
    expect(names).toEqual(['embedder', 'llama', 'smart']);
    const llama = ps.models.find((m) => m.name === 'llama')!;
    expect(llama.size_vram).toBe(4 * 1024 ** 3);
    const expires = Date.parse(String(llama.expires_at));
    expect(expires).toBeGreaterThan(Date.now() + 500_000); // ttlSeconds 600 after its last request
    expect(expires).toBeLessThanOrEqual(Date.now() + 600_000);
    const show = await ollama.show({ model: 'smart' });
    expect(show.capabilities).toEqual(['completion', 'tools', 'thinking']);
    expect((show.model_info as unknown as Record<string, unknown>)['vllm.context_length']).toBe(4096);
    expect((await ollama.show({ model: 'embedder' })).capabilities).toEqual(['embedding']);
  });

  it('an unknown model: 404 in Ollama’s words, and pull of a configured model succeeds at once', async () => {
    const err = (await ollama.chat({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as {
      status_code: number;
      error: string;
    };
    expect(err.status_code).toBe(404);
    expect(err.error).toBe('model "nope" not found, try pulling it first');
    expect(await ollama.pull({ model: 'llama:latest' })).toEqual({ status: 'success' });
    const parts = [];
    for await (const p of await ollama.pull({ model: 'llama', stream: true })) parts.push(p);
    expect(parts).toEqual([{ status: 'success' }]);
    const pullErr = (await ollama.pull({ model: 'nope' }).catch((e: unknown) => e)) as { status_code: number; error: string };
    expect(pullErr.status_code).toBe(404);
    // Not Ollama's "try pulling it first": pulling is what failed. (A config given inline has no path.)
    expect(pullErr.error).toBe(
      'model "nope" is not in the gateway\'s config, so there is nothing to pull: add it under models: in the config file and restart the gateway',
    );
    const createErr = (await ollama.create({ model: 'x', from: 'llama' }).catch((e: unknown) => e)) as {
      status_code: number;
      error: string;
    };
    expect(createErr.status_code).toBe(501);
    expect(createErr.error).toMatch(/not supported/);
  });
});

describe('keep_alive', () => {
  it('a long keep_alive replaces ttlSeconds after the request, in the status document and ps', async () => {
    await ollama.chat({ model: 'llama', messages: [{ role: 'user', content: 'x' }], keep_alive: '1h30m', options: { num_predict: 1 } });
    const m = findModel(t.gw, 'llama');
    expect(m.keepAliveSeconds).toBe(5400);
    const deadline = Date.parse(m.idleDeadline!);
    expect(deadline).toBeGreaterThan(Date.now() + 5_300_000);
    const ps = await ollama.ps();
    expect(Date.parse(String(ps.models.find((x) => x.name === 'llama')!.expires_at))).toBe(deadline);
    expect(ps.models[0].name).toBe('llama'); // the longest time left is listed first
    // A negative one keeps it loaded: no idle deadline.
    await ollama.generate({ model: 'llama', prompt: 'x', keep_alive: -1, options: { num_predict: 1 } });
    expect(findModel(t.gw, 'llama')).toMatchObject({ keepAliveSeconds: -1, idleDeadline: null });
    // A request without keep_alive (here through the OpenAI route) leaves it as it is, as in
    // Ollama (server/sched.go useLoadedRunner sets it only from a request that has one).
    await post(t.url, '/v1/chat/completions', { model: 'llama', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 });
    expect(findModel(t.gw, 'llama')).toMatchObject({ keepAliveSeconds: -1, idleDeadline: null });
    // A stopped server forgets it: the next one starts from ttlSeconds (sched.go load()).
    expect((await admin(t.url, '/gateway/models/llama/unload')).status).toBe(200);
    await post(t.url, '/v1/chat/completions', { model: 'llama', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 });
    const back = findModel(t.gw, 'llama');
    expect(back.keepAliveSeconds).toBeNull();
    expect(Date.parse(back.idleDeadline!)).toBeLessThanOrEqual(Date.now() + 600_000);
  });

  it('overlapping requests: the keep_alive of the last one scheduled wins, not of the last one to end', async () => {
    const gen = (keepAlive: string, delayMs: number) =>
      fetch(`http://127.0.0.1:${t.gw.ollamaPort}/api/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-mock-delay-ms': String(delayMs) },
        body: JSON.stringify({ model: 'llama', prompt: 'x', stream: false, keep_alive: keepAlive, options: { num_predict: 1 } }),
      }).then((r) => r.json() as Promise<{ done: boolean }>);
    // The first (1h) is admitted first and ends last; the second (2m) is admitted while it runs.
    const first = gen('1h', 800);
    await waitUntil(() => findModel(t.gw, 'llama').inFlight === 1, 5000, 'the first request in flight');
    const second = await gen('2m', 0);
    expect(second.done).toBe(true);
    expect((await first).done).toBe(true);
    expect(findModel(t.gw, 'llama').keepAliveSeconds).toBe(120);
  });

  it('a unitless string is a 400 in Ollama’s shape', async () => {
    const err = (await ollama
      .chat({ model: 'llama', messages: [{ role: 'user', content: 'x' }], keep_alive: '300' })
      .catch((e: unknown) => e)) as {
      status_code: number;
      error: string;
    };
    expect(err.status_code).toBe(400);
    expect(err.error).toBe('time: missing unit in duration "300"');
  });

  it('keep_alive 0 stops the model right after the request', async () => {
    const res = await ollama.generate({ model: 'embedder', prompt: 'x', keep_alive: 0, options: { num_predict: 1 } });
    expect(res.done).toBe(true);
    await waitUntil(() => findModel(t.gw, 'embedder').state === 'stopped', 5000, 'embedder stopped');
  });

  it('an empty request loads (done_reason "load"); with keep_alive 0 it unloads ("unload")', async () => {
    const load = await ollama.chat({ model: 'embedder', messages: [] });
    expect(load).toMatchObject({ model: 'embedder', message: { role: 'assistant', content: '' }, done: true, done_reason: 'load' });
    expect(findModel(t.gw, 'embedder').state).toBe('ready');
    const unload = await ollama.generate({ model: 'embedder', prompt: '', keep_alive: 0 });
    expect(unload).toMatchObject({ response: '', done: true, done_reason: 'unload' });
    await waitUntil(() => findModel(t.gw, 'embedder').state === 'stopped', 5000, 'embedder stopped');
  });

  it('embed with no input loads the model and answers no vectors, as Ollama does (how clients preload an embedder)', async () => {
    for (const input of [[], '', undefined]) {
      await waitUntil(() => findModel(t.gw, 'embedder').state === 'stopped', 5000, 'embedder stopped');
      const res = await ollama.embed({ model: 'embedder', input: input as string[] });
      expect(res).toMatchObject({ model: 'embedder', embeddings: [] });
      expect(findModel(t.gw, 'embedder').state).toBe('ready');
      await ollama.embed({ model: 'embedder', input: [], keep_alive: 0 });
    }
    // The older route: an empty prompt is an empty embedding.
    expect(await ollama.embeddings({ model: 'embedder', prompt: '' })).toEqual({ embedding: [] });
  });
});
