// The APIs other clients speak, through a real gateway to two mock vLLM models: Anthropic's
// Messages API with @anthropic-ai/sdk (create streamed and not, countTokens, beta countTokens,
// errors in Anthropic's shape), the Responses API with the `openai` SDK (create streamed and not,
// retrieve and cancel routed to the model that made the id), and raw HTTP for vLLM's pooling,
// classify, rerank and score routes and audio translations.

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, baseYaml, cleanupAll, http, mockOf, post, processModel, startGateway, type TestGateway } from './helpers.js';

let t: TestGateway;
let anthropic: Anthropic;
let openai: OpenAI;
/** vLLM keeps Responses API answers (and allows background ones) only with this set. */
const STORE = 'env: { VLLM_ENABLE_RESPONSES_API_STORE: "1" }';

beforeAll(async () => {
  t = await startGateway(
    baseYaml(['models:', processModel('alpha', { extra: STORE }), processModel('beta', { extra: `${STORE}\naliases: ["b"]` })].join('\n')),
  );
  anthropic = new Anthropic({ baseURL: t.url, apiKey: 'unused', maxRetries: 0, timeout: 20_000 });
  openai = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 });
});
afterAll(cleanupAll);

/** The requests the mock behind `id` received from clients, newest last (not the gateway's own /metrics scrapes). */
async function received(id: string) {
  const all = (await (await mockOf(t, id)).received()) as Array<{ method: string; path: string; body: string }>;
  return all.filter((r) => r.path !== '/metrics');
}

describe('Anthropic Messages API (@anthropic-ai/sdk)', () => {
  it('messages.create, not streamed and streamed', async () => {
    const msg = await anthropic.messages.create({ model: 'alpha', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] });
    expect(msg).toMatchObject({ type: 'message', role: 'assistant', model: 'alpha' });
    expect(msg.content[0].type).toBe('text');
    expect(msg.usage.output_tokens).toBeGreaterThan(0);

    const stream = anthropic.messages.stream({ model: 'b', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] });
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type);
    const final = await stream.finalMessage();
    expect(types[0]).toBe('message_start');
    expect(types).toContain('content_block_delta');
    expect(types.at(-1)).toBe('message_stop');
    expect(final.model).toBe('beta'); // the alias was rewritten to the id
    expect(final.content[0]).toMatchObject({ type: 'text' });
  });

  it('messages.countTokens and beta.messages.countTokens; the ?beta=true older SDKs add is kept', async () => {
    const messages = [{ role: 'user' as const, content: 'count these words please' }];
    const plain = await anthropic.messages.countTokens({ model: 'alpha', messages });
    expect(plain.input_tokens).toBeGreaterThan(0);
    const beta = await anthropic.beta.messages.countTokens({ model: 'alpha', messages });
    expect(beta.input_tokens).toBe(plain.input_tokens);
    // This SDK (1.17) sends the beta call without a query; Claude Code's bundled one adds ?beta=true.
    const raw = await post(t.url, '/v1/messages/count_tokens?beta=true', { model: 'b', messages });
    expect(raw.status).toBe(200);
    expect(raw.json).toEqual({ input_tokens: plain.input_tokens });
    expect((await received('alpha')).filter((r) => r.path.startsWith('/v1/messages/count_tokens'))).toHaveLength(2);
    expect((await received('beta')).at(-1)!.path).toBe('/v1/messages/count_tokens?beta=true');
  });

  it('the gateway’s errors come in Anthropic’s shape: the SDK reads type, errorCode and requestID', async () => {
    const err = (await anthropic.messages
      .create({ model: 'missing', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err.type).toBe('not_found_error');
    expect(err.errorCode).toBe('model_not_found');
    expect(err.requestID).toMatch(/\S/);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'not_found_error' }, request_id: err.requestID });

    // Raw, on the fast path and on Fastify's router (an unusual Content-Type), and for count_tokens.
    for (const [path, headers] of [
      ['/v1/messages', {}],
      ['/v1/messages', { 'content-type': 'application/json; charset=latin1' }],
      ['/v1/messages/count_tokens?beta=true', {}],
    ] as const) {
      const res = await post(t.url, path, '{not json', headers);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({
        type: 'error',
        error: { type: 'invalid_request_error', message: expect.any(String), details: { error_code: 'invalid_json' } },
        request_id: res.headers['x-request-id'],
      });
    }
    // An unknown path under /v1/messages is Anthropic's 404 too; the OpenAI routes keep OpenAI's shape.
    const batches = await post(t.url, '/v1/messages/batches', {});
    expect(batches.status).toBe(404);
    expect(batches.json.error).toMatchObject({ type: 'not_found_error', details: { error_code: 'not_found' } });
    const chat = await post(t.url, '/v1/chat/completions', '{not json');
    expect(chat.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
  });
});

describe('Responses API (openai SDK)', () => {
  it('create, not streamed and streamed; retrieve each id from the model that made it', async () => {
    const a = await openai.responses.create({ model: 'alpha', input: 'hello' });
    expect(a.id).toMatch(/^resp_/);
    const events: Array<{ type: string; sequence_number: number }> = [];
    let bId = '';
    const stream = await openai.responses.create({ model: 'beta', input: 'hello', stream: true });
    for await (const ev of stream) {
      events.push(ev);
      if (ev.type === 'response.created') bId = ev.response.id;
    }
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.at(-1)!.type).toBe('response.completed');

    const gotA = await openai.responses.retrieve(a.id);
    expect(gotA).toMatchObject({ id: a.id, model: 'alpha', status: 'completed' });
    const gotB = await openai.responses.retrieve(bId);
    expect(gotB).toMatchObject({ id: bId, model: 'beta', status: 'completed' });
    // Each went only to its own server.
    expect((await received('alpha')).some((r) => r.path === `/v1/responses/${bId}`)).toBe(false);
    expect((await received('beta')).some((r) => r.path === `/v1/responses/${bId}` && r.method === 'GET')).toBe(true);
  });

  it('cancel: a background response on each model is cancelled; a finished one is the server’s 400', async () => {
    const slow = { headers: { 'x-mock-token-delay-ms': '2000' } };
    const a = await openai.responses.create({ model: 'alpha', input: 'x', background: true }, slow);
    const b = await openai.responses.create({ model: 'beta', input: 'x', background: true }, slow);
    expect([a.status, b.status]).toEqual(['queued', 'queued']);
    expect(await openai.responses.cancel(a.id)).toMatchObject({ id: a.id, model: 'alpha', status: 'cancelled' });
    expect(await openai.responses.cancel(b.id)).toMatchObject({ id: b.id, model: 'beta', status: 'cancelled' });
    const done = await openai.responses.create({ model: 'alpha', input: 'x' });
    const err = await openai.responses.cancel(done.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const raw = await post(t.url, `/v1/responses/${done.id}/cancel`, '');
    expect(raw.status).toBe(400);
    expect(raw.json.error.message).toBe('Cannot cancel a synchronous response.'); // vLLM's own body, passed through
  });

  it('an unknown id, or one whose server stopped since, is the gateway’s own 404 not_found (nothing started)', async () => {
    const unknown = await http(t.url, '/v1/responses/resp_never_made');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'not_found', type: 'invalid_request_error', param: 'response_id' });
    const cancelUnknown = await post(t.url, '/v1/responses/resp_never_made/cancel', {});
    expect(cancelUnknown.status).toBe(404);

    const r = await openai.responses.create({ model: 'beta', input: 'x' });
    expect((await admin(t.url, '/gateway/models/beta/unload')).status).toBe(200);
    const gone = await http(t.url, `/v1/responses/${r.id}`);
    expect(gone.status).toBe(404);
    expect(gone.json.error.code).toBe('not_found');
    expect(gone.json.error.message).toContain('stopped since');
    expect((await t.model('beta')).state).toBe('stopped');
    // A new server of the same model does not know the old id either.
    await openai.responses.create({ model: 'beta', input: 'x' });
    expect((await http(t.url, `/v1/responses/${r.id}`)).status).toBe(404);
  });
});

describe('vLLM’s other routes, raw HTTP', () => {
  it('/pooling, /classify, /rerank, /v1/rerank, /v2/rerank, /score, /v1/score reach the named model in vLLM’s shapes', async () => {
    const pool = await post(t.url, '/pooling', { model: 'alpha', input: 'hello' });
    expect(pool.status).toBe(200);
    expect(pool.json).toMatchObject({ object: 'list', model: 'alpha', data: [{ index: 0, object: 'pooling' }] });
    const cls = await post(t.url, '/classify', { model: 'b', input: ['one', 'two'] });
    expect(cls.status).toBe(200);
    expect(cls.json.model).toBe('beta');
    expect(cls.json.data).toHaveLength(2);
    expect(cls.json.data[0]).toMatchObject({ index: 0, num_classes: 2, label: expect.stringMatching(/^LABEL_/) });
    for (const path of ['/rerank', '/v1/rerank', '/v2/rerank']) {
      const res = await post(t.url, path, { model: 'alpha', query: 'q', documents: ['a', 'b', 'c'], top_n: 2 });
      expect(res.status, path).toBe(200);
      expect(res.json.results).toHaveLength(2);
    }
    for (const path of ['/score', '/v1/score']) {
      const res = await post(t.url, path, { model: 'alpha', text_1: 'q', text_2: ['a', 'b'] });
      expect(res.status, path).toBe(200);
      expect(res.json.data).toHaveLength(2);
    }
    const paths = (await received('alpha')).map((r) => r.path);
    for (const p of ['/pooling', '/rerank', '/v1/rerank', '/v2/rerank', '/score', '/v1/score']) expect(paths).toContain(p);
  });

  it('/v1/audio/translations: routed by the form’s model field', async () => {
    const boundary = 'gw22boundary';
    const form =
      `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nb\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFFxxxx\r\n` +
      `--${boundary}--\r\n`;
    const res = await http(t.url, '/v1/audio/translations', {
      method: 'POST',
      body: form,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(res.status).toBe(200);
    expect(typeof res.json.text).toBe('string');
    expect((await received('beta')).at(-1)!.path).toBe('/v1/audio/translations');
  });
});
