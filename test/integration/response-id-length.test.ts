// Responses API ids longer than vLLM's own (`resp_` + 32 hex digits), as a remote upstream may make
// them (LiteLLM's proxy, for one, encodes its provider and model into a long base64 id): every id the
// gateway remembers from a /v1/responses answer (up to 256 bytes, response-id-tap.ts) can be asked
// for with GET /v1/responses/{id} and cancelled, and a longer unknown one gets the gateway's 404, not
// a 414 from the router. The upstream is a small real HTTP server standing in for such a proxy.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseYaml, cleanupAll, errorOf, http as request, post, startGateway, type TestGateway } from './helpers.js';

let t: TestGateway;
let upstream: http.Server;
const seen: string[] = [];
const LONG_ID = `resp_${'bGl0ZWxsbTpjdXN0b21fbGxtX3Byb3ZpZGVy'.repeat(5)}`; // 185 characters

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'POST' && req.url === '/v1/responses') {
        res.end(JSON.stringify({ id: LONG_ID, object: 'response', status: 'completed', model: 'far' }));
      } else if (req.url?.startsWith('/v1/responses/')) {
        res.end(JSON.stringify({ id: decodeURIComponent(req.url.split('/')[3]), object: 'response', status: 'completed' }));
      } else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  t = await startGateway(baseYaml(`models:\n  far: { runtime: remote, url: "http://127.0.0.1:${port}/v1" }`));
});
afterAll(async () => {
  await cleanupAll();
  await new Promise((r) => upstream.close(r));
});

describe('long response ids', () => {
  it('an id of 185 characters made by the upstream is retrieved and cancelled there', async () => {
    expect(LONG_ID.length).toBe(185);
    const made = await post(t.url, '/v1/responses', { model: 'far', input: 'hi' });
    expect(made.status).toBe(200);
    expect(made.json.id).toBe(LONG_ID);
    const got = await request(t.url, `/v1/responses/${LONG_ID}`, { method: 'GET' });
    expect(got.status).toBe(200);
    expect(got.json.id).toBe(LONG_ID);
    expect((await post(t.url, `/v1/responses/${LONG_ID}/cancel`, {})).status).toBe(200);
    expect(seen).toEqual(['POST /v1/responses', `GET /v1/responses/${LONG_ID}`, `POST /v1/responses/${LONG_ID}/cancel`]);
  });

  it('an unknown id longer than any remembered one is the gateway’s 404 not_found', async () => {
    const res = await request(t.url, `/v1/responses/resp_${'x'.repeat(300)}`, { method: 'GET' });
    expect(res.status).toBe(404);
    expect(errorOf(res)).toMatchObject({ code: 'not_found', param: 'response_id' });
    expect(seen.filter((s) => s.includes('x'.repeat(300)))).toEqual([]);
  });
});
