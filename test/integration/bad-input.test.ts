// docs/reliability.md "Bad input to try": each answers a 4xx in the OpenAI error shape, never a 5xx,
// starts no model, never reaches a model server, and the gateway stays healthy.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  baseYaml,
  chat,
  cleanupAll,
  errorOf,
  http,
  mockOf,
  post,
  processModel,
  type Res,
  startGateway,
  type TestGateway,
} from './helpers.js';

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(
    baseYaml(`models:\n${processModel('m1', { extra: 'aliases: ["m1-alias"]' })}\n${processModel('m2')}`, {
      limits: '{ queueTimeoutSeconds: 5, maxBodyBytes: 4096 }',
    }),
  );
});
afterAll(cleanupAll);

function expectError(res: Res, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const e = errorOf(res);
  expect(e.code).toBe(code);
  expect(e.type).toBe(status === 413 || status === 400 || status === 404 || status === 409 ? 'invalid_request_error' : e.type);
}

const raw = (body: string | Buffer, contentType = 'application/json') =>
  http(t.url, '/v1/chat/completions', { method: 'POST', body, headers: { 'content-type': contentType } });

describe('malformed bodies', () => {
  it('malformed JSON → 400 invalid_json', async () => {
    expectError(await raw('{"model": "m1", '), 400, 'invalid_json');
    expectError(await raw('{model: m1}'), 400, 'invalid_json');
  });

  it('an empty body → 400 invalid_json', async () => {
    expectError(await raw(''), 400, 'invalid_json');
    expectError(await http(t.url, '/v1/chat/completions', { method: 'POST' }), 400, 'invalid_json');
  });

  it('a text/plain body that is not JSON → 400 invalid_json', async () => {
    expectError(await raw('hello there', 'text/plain'), 400, 'invalid_json');
  });

  it('a body over maxBodyBytes → 413 body_too_large', async () => {
    const big = JSON.stringify(chat('m1', { pad: 'x'.repeat(8000) }));
    expectError(await raw(big), 413, 'body_too_large');
  });

  it('a JSON value that is not an object → 400 model_required', async () => {
    for (const body of ['[]', '"m1"', '42', 'null', '[{"model":"m1"}]']) expectError(await raw(body), 400, 'model_required');
  });

  it('__proto__ and constructor keys neither pollute prototypes nor name a model', async () => {
    expectError(await raw('{"__proto__": {"model": "m1"}, "messages": []}'), 400, 'model_required');
    expectError(await raw('{"constructor": {"prototype": {"model": "m1"}}}'), 400, 'model_required');
    expectError(await raw('{"model": "__proto__"}'), 404, 'model_not_found');
    expectError(await raw('{"model": "constructor"}'), 404, 'model_not_found');
    expectError(await raw('{"model": "toString"}'), 404, 'model_not_found');
    expectError(await raw('{"model": "hasOwnProperty"}'), 404, 'model_not_found');
    expect(({} as Record<string, unknown>).model).toBeUndefined();
  });

  it('invalid UTF-8 and lone surrogates → 4xx, not 5xx', async () => {
    const invalid = Buffer.concat([Buffer.from('{"model": "m'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]);
    expectError(await raw(invalid), 404, 'model_not_found');
    expectError(await raw(Buffer.from([0xef, 0xbb, 0xbf, 0xff, 0x7b])), 400, 'invalid_json');
    const lone = await raw('{"model": "\\ud800x"}');
    expectError(lone, 404, 'model_not_found');
    expect(lone.text).not.toContain('\ud800'); // escaped or replaced, valid JSON either way
  });
});

describe('the model field', () => {
  it('missing, null, a number, an array, an object, empty → 400 model_required with param "model"', async () => {
    for (const model of [undefined, null, 42, ['m1'], { id: 'm1' }, '', true]) {
      const res = await post(t.url, '/v1/chat/completions', { model, messages: [] });
      expectError(res, 400, 'model_required');
      expect(errorOf(res).param).toBe('model');
    }
  });

  it('unknown names (long, with /, .., shell characters) → 404 model_not_found and start nothing', async () => {
    const names = [
      'x'.repeat(1000),
      'm1/../m2',
      '../m1',
      '..',
      '/m1',
      'm1/',
      'm1; rm -rf /',
      '$(touch /tmp/pwned)',
      '`id`',
      'm1 && echo',
      'M1',
      ' m1',
      'm1\u0000',
      'm1\n',
    ];
    for (const model of names) {
      const res = await post(t.url, '/v1/chat/completions', { model, messages: [] });
      expectError(res, 404, 'model_not_found');
      expect(errorOf(res).message.length).toBeLessThan(300); // a very long name is not echoed whole
    }
    expect(t.runtime.starts).toEqual([]);
    const s = await t.status();
    expect(s.models.map((m) => m.state)).toEqual(['stopped', 'stopped']);
  });
});

describe('paths outside the allowlist', () => {
  it('never reach the model server: 404 in the OpenAI shape', async () => {
    const loaded = await admin(t.url, '/gateway/models/m1/load');
    expect(loaded.status).toBe(200);
    const mock = await mockOf(t, 'm1');
    // The gateway's own scrapes of the server's /metrics may come at any time; only forwarded requests count.
    const forwarded = async () => (await mock.received()).filter((r) => r.path !== '/metrics');
    const before = (await forwarded()).length;
    const body = JSON.stringify(chat('m1'));
    const paths = [
      '/pause',
      '/collective_rpc',
      '/update_weights',
      '/sleep',
      '/wake_up',
      '/v1/load_lora_adapter',
      '/v1/../x',
      '/v1/../pause',
      '/v1/%2e%2e/pause',
      '/v1/chat/completions/../../pause',
      '/v1/chat/completions/',
      '/v1/chat/completions%2F..%2F..%2Fpause',
      '//pause',
      '/server_info',
      '/reset_prefix_cache',
      '/start_profile',
      '/v1/responses/resp_x', // retrieve is a GET; a POST there is nothing
    ];
    for (const p of paths) {
      const res = await http(t.url, p, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      expect(res.status, p).toBe(404);
      expect(errorOf(res).type).toBe('invalid_request_error');
    }
    // A GET to an inference path is not proxied either.
    const get = await http(t.url, '/v1/chat/completions');
    expect(get.status).toBe(404);
    errorOf(get);
    const after = await forwarded();
    expect(after.length).toBe(before);
    expect(after.map((r) => r.path)).not.toContain('/pause');
  });
});

describe('after all that', () => {
  it('the gateway is still healthy and serves', async () => {
    expect((await http(t.url, '/health')).status).toBe(200);
    const ok = await post(t.url, '/v1/chat/completions', chat('m1-alias'));
    expect(ok.status).toBe(200);
    expect(ok.json.choices[0].message.content.length).toBeGreaterThan(0);
  });
});
