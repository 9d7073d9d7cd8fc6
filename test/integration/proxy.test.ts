// What the proxy forwards and passes back (docs/http-api.md): alias rewriting (JSON and multipart),
// bodies and queries unchanged otherwise, X-Request-Id echoed and forwarded, upstream errors passed
// through with their status and body.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseYaml, chat, cleanupAll, http, mockOf, post, processModel, startGateway, type TestGateway } from './helpers.js';

let t: TestGateway;
type Mock = Awaited<ReturnType<typeof mockOf>>;
let mock: Mock;

beforeAll(async () => {
  t = await startGateway(baseYaml(`models:\n${processModel('m1', { extra: 'aliases: ["m1-alias", "other/name"]' })}`));
  const loaded = await post(t.url, '/v1/chat/completions', chat('m1'));
  expect(loaded.status).toBe(200);
  mock = await mockOf(t, 'm1');
});
afterAll(cleanupAll);

async function receivedFor(id: string) {
  const list = await mock.received();
  return list.filter((r) => r.requestId === id);
}

describe('alias rewriting', () => {
  it('a JSON body naming an alias reaches the server with the id', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('m1-alias'), { 'x-request-id': 'alias-json-1' });
    expect(res.status).toBe(200);
    expect(res.json.model).toBe('m1');
    const [rec] = await receivedFor('alias-json-1');
    expect(JSON.parse(rec.body).model).toBe('m1');
    expect(rec.body).not.toContain('m1-alias');
    const slash = await post(t.url, '/v1/completions', { model: 'other/name', prompt: 'x' }, { 'x-request-id': 'alias-json-2' });
    expect(slash.status).toBe(200);
    expect(JSON.parse((await receivedFor('alias-json-2'))[0].body).model).toBe('m1');
  });

  it('a body naming the id is forwarded byte for byte, with its query string', async () => {
    const body = '{ "model":"m1",\n  "messages": [{"role":"user","content":"h\\u00e9 ✓"}], "extra_key": 1.50 }';
    const res = await http(t.url, '/v1/chat/completions?foo=bar&x=%2F', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-request-id': 'verbatim-1' },
    });
    expect(res.status).toBe(200);
    const [rec] = await receivedFor('verbatim-1');
    expect(rec.body).toBe(body);
    expect(rec.path).toBe('/v1/chat/completions?foo=bar&x=%2F'); // the query string as the client wrote it
  });

  it('a multipart transcription naming an alias has its model field rewritten, the file intact', async () => {
    const boundary = '----gwtestboundary42';
    const file = Buffer.from([0x52, 0x49, 0x46, 0x46, 0x00, 0xff, 0x10, 0x80, 0x0d, 0x0a, 0x2d, 0x2d]);
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
      file,
      Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nm1-alias\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="language"\r\n\r\nen\r\n--${boundary}--\r\n`),
    ]);
    const res = await http(t.url, '/v1/audio/transcriptions', {
      method: 'POST',
      body,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'x-request-id': 'multipart-1' },
    });
    expect(res.status, res.text).toBe(200);
    expect(typeof res.json.text).toBe('string');
    const [rec] = await receivedFor('multipart-1');
    expect(rec.body).toContain('name="model"\r\n\r\nm1\r\n');
    expect(rec.body).not.toContain('m1-alias');
    expect(rec.body).toContain('name="language"\r\n\r\nen\r\n');
    expect(Number(rec.headers['content-length'])).toBe(body.length - 'm1-alias'.length + 'm1'.length);
  });

  it('a multipart form without a model field → 400 model_required', async () => {
    const boundary = 'b0';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nxx\r\n--${boundary}--\r\n`;
    const res = await http(t.url, '/v1/audio/transcriptions', {
      method: 'POST',
      body,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('model_required');
  });
});

describe('X-Request-Id', () => {
  it('a sane one is echoed and forwarded upstream', async () => {
    const id = 'Abc.def_123-XYZ';
    const res = await post(t.url, '/v1/chat/completions', chat('m1'), { 'x-request-id': id });
    expect(res.headers['x-request-id']).toBe(id);
    const [rec] = await receivedFor(id);
    expect(rec.headers['x-request-id']).toBe(id);
    const long = 'a'.repeat(128);
    const res2 = await post(t.url, '/v1/chat/completions', chat('m1'), { 'x-request-id': long });
    expect(res2.headers['x-request-id']).toBe(long);
  });

  it('forged or oversized ones are replaced by a fresh one, which is forwarded', async () => {
    for (const forged of ['a'.repeat(129), 'has space', 'semi;colon', '<script>', 'ünïcode', 'a/b', '']) {
      const res = await post(t.url, '/v1/chat/completions', chat('m1'), { 'x-request-id': forged });
      expect(res.status).toBe(200);
      const echoed = String(res.headers['x-request-id']);
      expect(echoed).not.toBe(forged);
      expect(echoed).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
      const [rec] = await receivedFor(echoed);
      expect(rec.headers['x-request-id']).toBe(echoed);
    }
  });

  it('every response carries one, errors and gateway routes included; log lines carry it', async () => {
    for (const [path, method] of [
      ['/health', 'GET'],
      ['/v1/models', 'GET'],
      ['/nope', 'GET'],
      ['/gateway/status', 'GET'],
      ['/v1/chat/completions', 'POST'],
    ] as const) {
      const res = await http(t.url, path, {
        method,
        headers: { 'x-request-id': `route-${path.length}` },
        body: method === 'POST' ? '{' : undefined,
      });
      expect(res.headers['x-request-id'], path).toBe(`route-${path.length}`);
    }
    await post(t.url, '/v1/chat/completions', chat('m1'), { 'x-request-id': 'logged-request-7' });
    expect(t.logs.some((l) => l.includes('logged-request-7'))).toBe(true);
  });

  it('every answer of a proxied route carries exactly one, before and after the upstream answers', async () => {
    const cases: Array<[string, unknown, Record<string, string>, number]> = [
      ['ok', chat('m1'), {}, 200],
      ['stream', chat('m1', { stream: true }), {}, 200],
      ['upstream-error', chat('m1'), { 'x-mock-status': '503' }, 503],
      ['unknown-model', chat('no-such-model'), {}, 404],
      ['no-model', { messages: [] }, {}, 400],
      ['upstream-reset', chat('m1'), { 'x-mock-reset': '1' }, 502],
    ];
    for (const [name, body, headers, status] of cases) {
      const id = `one-id-${name}`;
      const res = await post(t.url, '/v1/chat/completions', body, { ...headers, 'x-request-id': id });
      expect(res.status, name).toBe(status);
      expect(res.headers['x-request-id'], name).toBe(id); // one value, not "id, id"
    }
  });
});

describe('upstream responses', () => {
  it('error statuses are passed through unchanged, status and body', async () => {
    for (const status of [400, 404, 422, 429, 500, 503]) {
      const res = await post(t.url, '/v1/chat/completions', chat('m1'), { 'x-mock-status': String(status) });
      expect(res.status).toBe(status);
      expect(res.json).toEqual({
        error: { message: `mock error (x-mock-status: ${status})`, type: expect.any(String), param: null, code: status },
      });
    }
    const custom = await post(
      t.url,
      '/v1/embeddings',
      { model: 'm1', input: 'x' },
      { 'x-mock-status': '418', 'x-mock-error-body': 'not json at all' },
    );
    expect(custom.status).toBe(418);
    expect(custom.text).toBe('not json at all');
  });

  it('every proxied path reaches the server', async () => {
    const cases: Array<[string, unknown]> = [
      ['/v1/completions', { model: 'm1', prompt: 'hi', max_tokens: 3 }],
      ['/v1/embeddings', { model: 'm1', input: ['a', 'b'] }],
      ['/v1/responses', { model: 'm1', input: 'hi' }],
      ['/v1/messages', { model: 'm1', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }],
      ['/v1/rerank', { model: 'm1', query: 'q', documents: ['a', 'b'] }],
      ['/v1/score', { model: 'm1', text_1: 'a', text_2: 'b' }],
      ['/tokenize', { model: 'm1', prompt: 'hello' }],
      ['/detokenize', { model: 'm1', tokens: [1, 2] }],
    ];
    for (const [path, body] of cases) {
      const res = await post(t.url, path, body, { 'x-request-id': `path${path.replace(/\//g, '_')}` });
      expect(res.status, `${path}: ${res.text}`).toBe(200);
      const [rec] = await receivedFor(`path${path.replace(/\//g, '_')}`);
      expect(rec.path).toBe(path);
    }
  });

  it('a stream comes back as text/event-stream ending with [DONE]', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('m1', { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });
});
