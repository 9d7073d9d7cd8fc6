// streaming.progressComments end to end: a streamed request that must wait (start, queue, wake) is
// answered 200 at once with `: vllm-gateway <phase> …` comment lines, then the upstream's bytes; a
// failure becomes one `data: {"error": …}` event. Read through raw HTTP (the exact bytes) and
// through the official `openai` client (which must read such a stream unchanged).
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { APIError } from 'openai';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { admin, agent, baseYaml, chat, cleanupAll, http, post, processModel, startGateway, waitUntil } from './helpers.js';

afterEach(cleanupAll);

const HELLO = 'héllo wörld 你好 🚀 héllo wörld';
const yaml = (models: string, progressComments = true) =>
  baseYaml(`models:\n${models}`, {
    limits: '{ queueTimeoutSeconds: 20 }',
    extra: `streaming: { progressComments: ${progressComments} }\nscheduling: { sleepHostRamGiB: 64 }`,
  });
const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30_000 });

/** A streamed chat request; resolves once the response headers are in, with a reader of the body so far. */
async function open(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ ...body, stream: true }),
    dispatcher: agent,
  });
  let text = '';
  const done = (async () => {
    for await (const c of res.body) text += (c as Buffer).toString('utf8');
  })();
  return { status: res.statusCode, headers: res.headers, text: () => text, done };
}
const comments = (text: string) => text.split('\n\n').filter((b) => b.startsWith(': vllm-gateway '));

describe('progress comments', () => {
  it('a cold start: 200 and a comment at once, again at least every 5 s, then the stream unchanged', async () => {
    const t = await startGateway(yaml(processModel('a', { knobs: ['--mock-start-delay-ms', '5600'] })));
    const r = await open(t.url, chat('a'));
    // The headers came before the model was ready.
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(['starting', 'pulling']).toContain((await t.model('a')).state);
    await waitUntil(() => comments(r.text()).length >= 1, 2000, 'the first comment');
    expect(comments(r.text())[0]).toBe(': vllm-gateway starting model=a elapsed=0s position=1');
    await r.done;
    const text = r.text();
    const cs = comments(text);
    expect(cs.length).toBeGreaterThanOrEqual(2); // 5.6 s of waiting: at 0 s and by 5 s
    // never more than 5 s between two comments
    const at = cs.map((c) => Number(/elapsed=(\d+)s/.exec(c)![1]));
    for (let i = 1; i < at.length; i++) expect(at[i] - at[i - 1]).toBeLessThanOrEqual(5);
    expect(at[1]).toBeGreaterThanOrEqual(3);
    // After the comments, the upstream's own stream, as it sent it.
    const upstream = text.slice(text.indexOf('data: '));
    expect(upstream.startsWith('data: {"id":"chatcmpl-')).toBe(true);
    expect(upstream.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(comments(upstream)).toEqual([]);
  });

  it('the official openai client reads such a stream unchanged', async () => {
    const t = await startGateway(yaml(processModel('a', { knobs: ['--mock-start-delay-ms', '1500'] })));
    const stream = await client(t.url).chat.completions.create({ model: 'a', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let out = '';
    for await (const chunk of stream) out += chunk.choices[0]?.delta?.content ?? '';
    expect(out).toBe(HELLO);
  });

  it('a start that fails: one error event, which the openai client raises as an APIError', async () => {
    const t = await startGateway(
      yaml(processModel('a', { knobs: ['--mock-start-delay-ms', '300', '--mock-fail-at-start', 'CUDA out of memory'] })),
    );
    const r = await open(t.url, chat('a'));
    expect(r.status).toBe(200);
    await r.done;
    const blocks = r.text().split('\n\n').filter(Boolean);
    const last = blocks.at(-1)!;
    expect(blocks.slice(0, -1).every((b) => b.startsWith(': vllm-gateway '))).toBe(true);
    expect(last.startsWith('data: ')).toBe(true);
    const err = JSON.parse(last.slice(6)).error;
    expect(err).toMatchObject({ code: 'model_start_failed', type: 'server_error', param: null });
    expect(err.message).toContain('CUDA out of memory');
    // the client: cooling down now, so a second cold model
    const t2 = await startGateway(yaml(processModel('b', { knobs: ['--mock-start-delay-ms', '300', '--mock-fail-at-start', 'boom'] })));
    const stream = await client(t2.url).chat.completions.create({ model: 'b', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const caught = await (async () => {
      try {
        for await (const _ of stream) void _;
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(caught).toBeInstanceOf(APIError);
    expect((caught as APIError).code).toBe('model_start_failed');
  });

  it('on /v1/messages: the comments, then Anthropic’s `event: error`, which @anthropic-ai/sdk raises with the code', async () => {
    const t = await startGateway(
      yaml(processModel('a', { knobs: ['--mock-start-delay-ms', '300', '--mock-fail-at-start', 'CUDA out of memory'] })),
    );
    const res = await request(`${t.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'a', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      dispatcher: agent,
    });
    expect(res.statusCode).toBe(200);
    const blocks = (await res.body.text()).split('\n\n').filter(Boolean);
    expect(blocks[0].startsWith(': vllm-gateway ')).toBe(true);
    const [event, data] = blocks.at(-1)!.split('\n');
    expect(event).toBe('event: error');
    expect(JSON.parse(data.slice(6))).toEqual({
      type: 'error',
      error: { type: 'api_error', message: expect.stringContaining('CUDA out of memory'), details: { error_code: 'model_start_failed' } },
    });
    // The SDK, on a second cold model (the first cools down now).
    const t2 = await startGateway(yaml(processModel('b', { knobs: ['--mock-start-delay-ms', '300', '--mock-fail-at-start', 'boom'] })));
    const anthropic = new Anthropic({ baseURL: t2.url, apiKey: 'unused', maxRetries: 0 });
    const caught = await (async () => {
      try {
        const stream = await anthropic.messages.create({
          model: 'b',
          max_tokens: 8,
          stream: true,
          messages: [{ role: 'user', content: 'hi' }],
        });
        for await (const _ of stream) void _;
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(caught).toBeInstanceOf(Anthropic.APIError);
    expect((caught as InstanceType<typeof Anthropic.APIError>).errorCode).toBe('model_start_failed');
  });

  it('an upstream error status becomes the error event, with the upstream error object', async () => {
    const t = await startGateway(yaml(processModel('a', { knobs: ['--mock-start-delay-ms', '300'] })));
    const r = await open(t.url, chat('a'), { 'x-mock-status': '400' });
    await r.done;
    const last = r.text().split('\n\n').filter(Boolean).at(-1)!;
    expect(JSON.parse(last.slice(6))).toEqual({
      error: { message: 'mock error (x-mock-status: 400)', type: 'BadRequestError', code: '400', param: null },
    });
  });

  it('queued behind a busy slot: the queue position; a ready model with a free slot gets no comments', async () => {
    const t = await startGateway(yaml(processModel('a', { extra: 'maxConcurrent: 1' })));
    const first = await open(t.url, chat('a'));
    await first.done;
    expect(comments(first.text()).length).toBeGreaterThan(0); // it started the model
    const direct = await open(t.url, chat('a'));
    await direct.done;
    expect(direct.text().startsWith('data: ')).toBe(true); // ready, slot free: nothing added
    const busy = await open(t.url, chat('a'), { 'x-mock-token-delay-ms': '100' });
    await waitUntil(async () => (await t.model('a')).inFlight === 1, 5000, 'a busy');
    const queued = await open(t.url, chat('a'));
    await waitUntil(() => comments(queued.text()).length >= 1, 3000, 'a queued comment');
    expect(comments(queued.text())[0]).toBe(': vllm-gateway queued model=a elapsed=0s position=1');
    await Promise.all([busy.done, queued.done]);
    expect(queued.text()).toContain('data: [DONE]');
  });

  it('a wake shows as waking; requests that are not streamed are not affected', async () => {
    const models = [
      processModel('a', { vramGiB: 14, knobs: ['--enable-sleep-mode', '--mock-wake-delay-ms', '400'], extra: 'sleep: { level: 1 }' }),
      processModel('b', { vramGiB: 14 }),
    ].join('\n');
    const t = await startGateway(yaml(models));
    const plain = await post(t.url, '/v1/chat/completions', chat('a'));
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toContain('application/json');
    expect((await admin(t.url, '/gateway/models/a/sleep')).status).toBe(200);
    const r = await open(t.url, chat('a'));
    await r.done;
    expect(comments(r.text())[0]).toMatch(/^: vllm-gateway waking model=a elapsed=0s/);
    expect(r.text()).toContain('data: [DONE]');
    // non-streamed while b is cold: a plain JSON answer, no comments
    const nb = await http(t.url, '/v1/chat/completions', { body: JSON.stringify(chat('b')) });
    expect(nb.status).toBe(200);
    expect(nb.text.startsWith('{')).toBe(true);
  });

  it('off (the default): a cold streamed request gets nothing until the upstream answers', async () => {
    const t = await startGateway(yaml(processModel('a', { knobs: ['--mock-start-delay-ms', '300'] }), false));
    const r = await open(t.url, chat('a'));
    await r.done;
    expect(r.text().startsWith('data: {"id":"chatcmpl-')).toBe(true);
    expect(comments(r.text())).toEqual([]);
  });
});
