// The proxied routes' fast path (gateway/http/fast-path.ts) and Fastify's router answer alike: the
// same request sent as the fast path takes it (`/v1/chat/completions`, a JSON Content-Type) and in a
// form only the router takes (the path percent-encoded, or another Content-Type) gets the same
// status, error, headers, and upstream request.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fastPathRoute } from '../../gateway/http/fast-path.js';
import {
  ADMIN_TOKEN,
  baseYaml,
  chat,
  cleanupAll,
  errorOf,
  http,
  type Mock,
  type Res,
  spawnMock,
  startGateway,
  type TestGateway,
} from './helpers.js';

const KEY = 'sk-fast-path-key';
let t: TestGateway;
let mock: Mock;

beforeAll(async () => {
  mock = await spawnMock(['--served-model-name', 'fp', '--mock-tokens', '3', '--mock-token-delay-ms', '0']);
  t = await startGateway(
    baseYaml(`models:\n  fp: { runtime: remote, url: "${mock.url}", aliases: [fp-alias] }`, {
      limits: '{ queueTimeoutSeconds: 5, maxBodyBytes: 4096 }',
      extra: `auth: { adminToken: ${ADMIN_TOKEN}, apiKeys: ["${KEY}"], allowedOrigins: ["https://app.example.org"] }`,
    }).replace(/^auth: \{ adminToken: [^}]*\}\n/m, ''),
  );
});
afterAll(async () => {
  await cleanupAll();
  await mock.kill();
});

const FAST = '/v1/chat/completions';
const ROUTED = '/v1/chat/%63ompletions'; // the same route, decoded by Fastify's router only

function send(path: string, body: string | undefined, headers: Record<string, string> = {}): Promise<Res> {
  return http(t.url, path, { method: 'POST', body, headers: { authorization: `Bearer ${KEY}`, ...headers } });
}

/** What a client can tell of an answer. */
function seen(res: Res) {
  const error = res.status >= 400 ? errorOf(res) : null;
  return {
    status: res.status,
    code: error?.code ?? null,
    message: error?.message ?? null,
    contentType: res.headers['content-type'],
    allowOrigin: res.headers['access-control-allow-origin'] ?? null,
    retryAfter: res.headers['retry-after'] ?? null,
  };
}

async function both(body: string | undefined, headers: Record<string, string> = {}) {
  const fast = await send(FAST, body, headers);
  const routed = await send(ROUTED, body, headers);
  return { fast, routed };
}

describe('which requests the fast path takes', () => {
  it('POSTs to a proxied path as written, with a JSON Content-Type or none; the router gets the rest', () => {
    expect(fastPathRoute('POST', '/v1/chat/completions', 'application/json')).toBe('/v1/chat/completions');
    expect(fastPathRoute('POST', '/v1/embeddings?x=1', 'Application/JSON; charset=UTF-8')).toBe('/v1/embeddings');
    expect(fastPathRoute('POST', '/v1/completions', undefined)).toBe('/v1/completions');
    expect(fastPathRoute('GET', '/v1/chat/completions', 'application/json')).toBeNull();
    expect(fastPathRoute('POST', '/v1/chat/%63ompletions', 'application/json')).toBeNull();
    expect(fastPathRoute('POST', 'http://127.0.0.1/v1/chat/completions', 'application/json')).toBeNull();
    expect(fastPathRoute('POST', '/v1/chat/completions/', 'application/json')).toBeNull();
    expect(fastPathRoute('POST', '/v1/models', 'application/json')).toBeNull();
    expect(fastPathRoute('POST', '/gateway/models/fp/load', undefined)).toBeNull();
    expect(fastPathRoute('POST', '/v1/audio/transcriptions', 'multipart/form-data; boundary=x')).toBeNull();
    expect(fastPathRoute('POST', '/v1/chat/completions', 'text/plain')).toBeNull();
  });
});

describe('the fast path answers as the router does', () => {
  it('a good request: 200, its id echoed, the same bytes upstream with the same path and id', async () => {
    const body = JSON.stringify(chat('fp-alias', { max_tokens: 3 }));
    const fast = await send(`${FAST}?trace=1`, body, { 'content-type': 'application/json', 'x-request-id': 'fp-fast-1' });
    const routed = await send(`${ROUTED}?trace=1`, body, { 'content-type': 'application/json', 'x-request-id': 'fp-routed-1' });
    expect(seen(fast)).toEqual(seen(routed));
    expect(fast.status).toBe(200);
    expect(fast.headers['x-request-id']).toBe('fp-fast-1');
    expect(routed.headers['x-request-id']).toBe('fp-routed-1');
    const received = await mock.received();
    const a = received.find((r) => r.requestId === 'fp-fast-1')!;
    const b = received.find((r) => r.requestId === 'fp-routed-1')!;
    expect(a.path).toBe('/v1/chat/completions?trace=1');
    expect(b.path).toBe(a.path);
    expect(a.body).toBe(b.body);
    expect(JSON.parse(a.body).model).toBe('fp'); // the alias rewritten on both
    expect(a.headers.authorization).toBeUndefined(); // the client's key is not passed on
    expect(b.headers.authorization).toBeUndefined();
  });

  it('refusals: no key, a wrong Host, a foreign Origin', async () => {
    const body = JSON.stringify(chat('fp'));
    for (const headers of [
      { authorization: '' },
      { authorization: 'Bearer sk-wrong' },
      { host: 'evil.example.org' },
      { origin: 'https://evil.example.org' },
    ]) {
      const { fast, routed } = await both(body, { 'content-type': 'application/json', ...headers });
      expect(fast.status).toBeGreaterThanOrEqual(400);
      expect(seen(fast)).toEqual(seen(routed));
      expect(fast.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });

  it('an allowed Origin gets the CORS headers on both', async () => {
    const { fast, routed } = await both(JSON.stringify(chat('fp')), {
      'content-type': 'application/json',
      origin: 'https://app.example.org',
    });
    expect(fast.status).toBe(200);
    expect(seen(fast)).toEqual(seen(routed));
    expect(fast.headers['access-control-allow-origin']).toBe('https://app.example.org');
    expect(fast.headers.vary).toContain('Origin');
  });

  it('bad bodies: none, empty, not JSON, no model, an unknown model, over limits.maxBodyBytes', async () => {
    const cases: Array<[string | undefined, Record<string, string>, string]> = [
      [undefined, {}, 'invalid_json'],
      ['', { 'content-type': 'application/json' }, 'invalid_json'],
      ['{"model": "fp",', { 'content-type': 'application/json' }, 'invalid_json'],
      ['{"messages": []}', { 'content-type': 'application/json' }, 'model_required'],
      [JSON.stringify(chat('nope')), { 'content-type': 'application/json' }, 'model_not_found'],
      [JSON.stringify(chat('fp', { pad: 'x'.repeat(5000) })), { 'content-type': 'application/json' }, 'body_too_large'],
    ];
    for (const [body, headers, code] of cases) {
      const { fast, routed } = await both(body, headers);
      expect(errorOf(fast).code, `${code}: ${fast.text}`).toBe(code);
      expect(seen(fast)).toEqual(seen(routed));
    }
  });

  it('a chunked body over the limit is refused as it comes, and the gateway goes on', async () => {
    const big = JSON.stringify(chat('fp', { pad: 'y'.repeat(8000) }));
    const res = await http(t.url, FAST, {
      method: 'POST',
      // A stream body: undici sends it chunked, without a Content-Length.
      body: (async function* () {
        yield Buffer.from(big.slice(0, 3000));
        yield Buffer.from(big.slice(3000));
      })(),
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expect(errorOf(res).code).toBe('body_too_large');
    expect((await send(FAST, JSON.stringify(chat('fp')), { 'content-type': 'application/json' })).status).toBe(200);
  });
});
