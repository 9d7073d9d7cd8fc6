// Hardening (docs/reliability.md): access decided on the matched route, hop-by-hop and credential
// headers kept from the upstream, secrets out of client-visible texts, Expect: 100-continue,
// bodies forwarded byte for byte, multipart routing as vLLM reads the form, and every HTTP-layer
// refusal in the OpenAI error shape. A real gateway, real mock vLLM servers, raw sockets.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  baseYaml,
  chat,
  cleanupAll,
  errorOf,
  http,
  mockCommand,
  post,
  spawnMock,
  startGateway,
  waitUntil,
  type Mock,
  type TestGateway,
} from './helpers.js';
import { rawError, rawRequest } from './raw-http.js';

const KEY = 'sk-client-key-1';
const REMOTE_KEY = 'remote-upstream-key-9';
const SECRET = 'sk-topsecret-0042';
let t: TestGateway;
let mock: Mock;
let port: number;
/** listen.ollamaPort: its own Node server, with the main port's HTTP-layer rules. */
let ollamaPort: number;

beforeAll(async () => {
  mock = await spawnMock(['--served-model-name', 'r1']);
  const yaml = baseYaml(
    `models:
  r1: { runtime: remote, url: "${mock.url}", apiKey: "${REMOTE_KEY}", aliases: ["r-alias"] }
  p1: { runtime: process, command: ${mockCommand()}, vramGiB: 4 }
  bad1: { runtime: process, command: ${mockCommand('--api-key', SECRET, '--mock-fail-at-start', 'boom')}, vramGiB: 4 }`,
    { extra: `auth: { adminToken: ${ADMIN_TOKEN}, apiKeys: ["${KEY}"] }\nlimits: { queueTimeoutSeconds: 5, maxBodyBytes: 4194304 }` },
  )
    .replace(/^auth: \{ adminToken: [^}]*\}\n/m, '')
    .replace(/^limits: \{ queueTimeoutSeconds: 5 \}\n/m, '')
    .replace('listen: { host: 127.0.0.1, port: 0 }', 'listen: { host: 127.0.0.1, port: 0, ollamaPort: 0 }');
  t = await startGateway(yaml);
  port = Number(new URL(t.url).port);
  ollamaPort = t.gw.ollamaPort!;
});
afterAll(cleanupAll);

const auth = { authorization: `Bearer ${KEY}` };
const lastReceived = async () => (await mock.received()).filter((r) => r.path !== '/metrics').at(-1)!; // not the engine scraper's polls

describe('the admin check is made on the matched route', () => {
  it('a percent-encoded /gateway path with an API key → 401 invalid_admin_token, nothing starts', async () => {
    for (const path of ['/%67ateway/models/p1/load?wait=false', '/gateway/models/p1/%6coad?wait=false', '/gateway/models/%70%31/load']) {
      const res = await http(t.url, path, { method: 'POST', headers: auth });
      expect(res.status, path).toBe(401);
      expect(errorOf(res).code).toBe('invalid_admin_token');
    }
    expect((await t.model('p1')).state).toBe('stopped');
  });

  it('an absolute-form target naming our host gets the same check; one naming another host → 403', async () => {
    const r = await rawRequest(
      port,
      `POST http://127.0.0.1:${port}/gateway/models/p1/load?wait=false HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        `Authorization: Bearer ${KEY}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    expect(r.status).toBe(401);
    expect(rawError(r).code).toBe('invalid_admin_token');
    const other = await rawRequest(
      port,
      `GET http://evil.example/v1/models HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${KEY}\r\nConnection: close\r\n\r\n`,
    );
    expect(other.status).toBe(403);
    expect(rawError(other).code).toBe('forbidden_host');
    expect((await t.model('p1')).state).toBe('stopped');
  });

  it('the API key is needed on a percent-encoded spelling of a route too', async () => {
    const res = await http(t.url, '/v1/%6dodels');
    expect(res.status).toBe(401);
    expect(errorOf(res).code).toBe('invalid_api_key');
  });
});

describe('x-api-key (Anthropic clients)', () => {
  it('is accepted as the API key; a wrong one is refused', async () => {
    expect((await http(t.url, '/v1/models', { headers: { 'x-api-key': KEY } })).status).toBe(200);
    const res = await post(t.url, '/v1/messages', { model: 'r1', max_tokens: 8, messages: [] }, { 'x-api-key': 'sk-wrong' });
    expect(res.status).toBe(401);
    // In Anthropic's shape there (anthropic-errors.ts): what its clients read.
    expect(res.json).toMatchObject({ type: 'error', error: { type: 'authentication_error', details: { error_code: 'invalid_api_key' } } });
  });
});

describe('what reaches the upstream', () => {
  it('headers named in Connection, hop-by-hop ones, Expect and the client credentials are not forwarded', async () => {
    const body = JSON.stringify(chat('r1'));
    const r = await rawRequest(
      port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive, x-mock-status, X-Secret-Hop\r\n` +
        `x-mock-status: 500\r\nx-secret-hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eDp5\r\n` +
        `Cookie: session=abc\r\nX-Api-Key: ${KEY}\r\nAuthorization: Bearer ${KEY}\r\nx-request-id: hop-test-1\r\nx-kept: yes\r\n\r\n${body}`,
    );
    expect(r.status, r.body).toBe(200);
    const rec = await lastReceived();
    expect(rec.requestId).toBe('hop-test-1');
    for (const name of ['x-mock-status', 'x-secret-hop', 'keep-alive', 'te', 'proxy-authorization', 'cookie', 'x-api-key', 'expect']) {
      expect(rec.headers[name], name).toBeUndefined();
    }
    expect(rec.headers.authorization).toBe(`Bearer ${REMOTE_KEY}`);
    expect(rec.headers['x-kept']).toBe('yes');
  });

  it('an absolute-form, percent-encoded or #fragment target goes upstream as the matched path and the query', async () => {
    const body = JSON.stringify(chat('r1'));
    const send = (target: string) =>
      rawRequest(
        port,
        `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
    expect((await send(`http://127.0.0.1:${port}/v1/chat/completions?a=1`)).status).toBe(200);
    expect((await lastReceived()).path).toBe('/v1/chat/completions?a=1');
    expect((await send('/v1/chat/completions?c=1#frag')).status).toBe(200);
    expect((await lastReceived()).path).toBe('/v1/chat/completions?c=1');
    // A fragment is never valid in an absolute-form target (RFC 9112 §3.2.2): refused, not routed.
    const bad = await send(`http://127.0.0.1:${port}/v1/chat/completions#frag`);
    expect(bad.status).toBe(400);
    expect(rawError(bad).code).toBe('invalid_request');
    expect((await send('/v1/%63hat/completions?b=%2F')).status).toBe(200);
    expect((await lastReceived()).path).toBe('/v1/chat/completions?b=%2F');
  });

  it('an alias is rewritten in place: every other byte as the client sent it', async () => {
    const head = Buffer.from('{"model":"r-alias","seed":12345678901234567891,"temperature":1.0,"max_tokens":2,"messages":[],"x":"caf');
    const body = Buffer.concat([head, Buffer.from([0xe9, 0x20, 0xff]), Buffer.from('"}')]);
    const res = await http(t.url, '/v1/completions', {
      method: 'POST',
      body,
      headers: { ...auth, 'content-type': 'application/json', 'x-request-id': 'alias-bytes-1' },
    });
    expect(res.status, res.text).toBe(200);
    const rec = (await mock.received()).find((r: { requestId: string }) => r.requestId === 'alias-bytes-1');
    const expected = Buffer.concat([
      Buffer.from('{"model":"r1","seed":12345678901234567891,"temperature":1.0,"max_tokens":2,"messages":[],"x":"caf'),
      Buffer.from([0xe9, 0x20, 0xff]),
      Buffer.from('"}'),
    ]);
    expect(Buffer.from(rec.bodyBase64, 'base64').toString('latin1')).toBe(expected.toString('latin1'));
  });

  it('multipart: routed by the last "model" field as vLLM reads it, only that field rewritten', async () => {
    const part = (headers: string, content: string) => `--B0undary\r\n${headers}\r\n\r\n${content}\r\n`;
    const trap = 'RIFF\r\nContent-Disposition: form-data; name="model"\r\n\r\nr-alias\r\n';
    const make = (last: string) =>
      part('Content-Disposition: form-data; name="model"', 'nope-not-a-model') +
      part('Content-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav', trap) +
      part('Content-Disposition: form-data; NAME="model"', last) +
      '--B0undary--\r\n';
    const res = await http(t.url, '/v1/audio/transcriptions', {
      method: 'POST',
      body: make('r-alias'),
      headers: { ...auth, 'content-type': 'multipart/form-data; boundary=B0undary', 'x-request-id': 'form-1' },
    });
    expect(res.status, res.text).toBe(200);
    const rec = (await mock.received()).find((r: { requestId: string }) => r.requestId === 'form-1');
    expect(Buffer.from(rec.bodyBase64, 'base64').toString('latin1')).toBe(make('r1'));
  });
});

describe('Expect: 100-continue', () => {
  it('a 2 MB body sent after 100 Continue is forwarded (200), without the header', async () => {
    const body = JSON.stringify(chat('r1', { max_tokens: 2, pad: 'x'.repeat(2_000_000) }));
    const r = await new Promise<string>((resolve, reject) => {
      import('node:net').then(({ connect }) => {
        const s = connect(port, '127.0.0.1');
        let raw = '';
        let sent = false;
        s.on('data', (c: Buffer) => {
          raw += c.toString('latin1');
          if (!sent && raw.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
            sent = true;
            s.write(body);
          }
          if (sent && /\r\n\r\n[\s\S]*"object"/.test(raw.slice(25))) {
            s.destroy();
            resolve(raw);
          }
        });
        s.on('error', reject);
        s.write(
          `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${KEY}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nx-request-id: expect-1\r\n\r\n`,
        );
      }, reject);
    });
    expect(r).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    const rec = await waitUntil(async () => (await mock.received()).find((x: { requestId: string }) => x.requestId === 'expect-1'));
    expect(rec.headers.expect).toBeUndefined();
  });

  it('a body announced over maxBodyBytes → 413 body_too_large before it is sent', async () => {
    const r = await rawRequest(
      port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 9000000\r\nExpect: 100-continue\r\n\r\n`,
    );
    expect(r.status).toBe(413);
    expect(r.raw).not.toMatch(/100 Continue/);
    expect(rawError(r).code).toBe('body_too_large');
  });

  it('a missing API key or a foreign Host is refused before the body is asked for (no 100 Continue)', async () => {
    const head = `POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n`;
    const noKey = await rawRequest(port, `${head}Host: 127.0.0.1:${port}\r\n\r\n`);
    expect(noKey.status).toBe(401);
    expect(noKey.raw).not.toMatch(/100 Continue/);
    expect(rawError(noKey).code).toBe('invalid_api_key');
    const foreign = await rawRequest(port, `${head}Host: evil.example\r\nAuthorization: Bearer ${KEY}\r\n\r\n`);
    expect(foreign.status).toBe(403);
    expect(foreign.raw).not.toMatch(/100 Continue/);
    expect(rawError(foreign).code).toBe('forbidden_host');
  });
});

describe('what error texts reveal', () => {
  it('an API client sees a start failure and the model log with the --api-key value redacted; the admin sees it whole', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('bad1'), auth);
    expect(res.status).toBe(503);
    const e = errorOf(res);
    expect(e.code).toBe('model_start_failed');
    expect(e.message).toContain('boom');
    expect(e.message).toContain('[redacted]');
    expect(e.message).not.toContain(SECRET);
    const logs = await http(t.url, '/gateway/models/bad1/logs', { headers: auth });
    expect(logs.text).toContain('[redacted]');
    expect(logs.text).not.toContain(SECRET);
    const status = await http(t.url, '/gateway/status', { headers: auth });
    const entry = status.json.models.find((m: { id: string }) => m.id === 'bad1');
    expect(entry.error ?? '').not.toContain(SECRET);
    const full = await http(t.url, '/gateway/models/bad1/logs', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(full.text).toContain(SECRET);
  });

  it("the gateway's own log lines about the failure carry the text redacted too (logs never hold secrets)", async () => {
    await post(t.url, '/v1/chat/completions', chat('bad1'), auth); // in cool-down: model_cooling_down, with the same text
    const about = t.logs.filter((l) => l.includes('boom'));
    expect(about.some((l) => l.includes('model start failed'))).toBe(true);
    expect(about.some((l) => l.includes('request failed'))).toBe(true);
    for (const line of about) {
      expect(line).toContain('[redacted]');
      expect(line).not.toContain(SECRET);
    }
  });
});

describe('HTTP-layer refusals are in the OpenAI shape, with catalogue codes', () => {
  const head = `Host: 127.0.0.1:PORT\r\nAuthorization: Bearer ${KEY}\r\n`;
  const cases: Array<[string, string, number, string]> = [
    [
      'duplicate Content-Length',
      `POST /v1/completions HTTP/1.1\r\n${head}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
      400,
      'invalid_request',
    ],
    [
      'CL + TE smuggling',
      `POST /v1/completions HTTP/1.1\r\n${head}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      400,
      'invalid_request',
    ],
    ['bare LF', `GET /v1/models HTTP/1.1\n${head.replace(/\r\n/g, '\n')}\n`, 400, 'invalid_request'],
    ['NUL in a header', `GET /v1/models HTTP/1.1\r\n${head}X-Bad: a\0b\r\n\r\n`, 400, 'invalid_request'],
    ['HTTP/1.1 without Host', `GET /v1/models HTTP/1.1\r\nAuthorization: Bearer ${KEY}\r\n\r\n`, 400, 'invalid_request'],
    ['a 20 KB header', `GET /v1/models HTTP/1.1\r\n${head}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
    ['a path parameter over the limit', `GET /gateway/models/${'m'.repeat(1000)}/logs HTTP/1.1\r\n${head}\r\n`, 414, 'uri_too_long'],
    ['a bad percent-encoding', `GET /gateway/models/%zz/logs HTTP/1.1\r\n${head}\r\n`, 400, 'invalid_request'],
    [
      'a Content-Type that is no media type',
      `POST /v1/completions HTTP/1.1\r\n${head}Content-Type: json\r\nContent-Length: 2\r\n\r\n{}`,
      415,
      'unsupported_media_type',
    ],
    ['two Host headers (RFC 9112 §3.2)', `GET /v1/models HTTP/1.1\r\n${head}Host: evil.example\r\n\r\n`, 400, 'invalid_request'],
    ['two Host headers naming our host twice', `GET /v1/models HTTP/1.1\r\n${head}Host: localhost\r\n\r\n`, 400, 'invalid_request'],
    ['a CONNECT (no tunnels)', `CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n`, 400, 'invalid_request'],
    [
      'an Expect other than 100-continue',
      `POST /v1/completions HTTP/1.1\r\n${head}Expect: 200-ok\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
      417,
      'expectation_failed',
    ],
  ];
  for (const which of ['main port', 'listen.ollamaPort'] as const) {
    for (const [what, request, status, code] of cases) {
      it(`${which}: ${what} → ${status} ${code}`, async () => {
        const p = which === 'main port' ? port : ollamaPort;
        const r = await rawRequest(p, request.replace('PORT', String(p)));
        expect(r.status, r.raw.slice(0, 300)).toBe(status);
        expect(r.headers['content-type']).toMatch(/^application\/json/);
        expect(r.headers['x-request-id']).toMatch(/^[A-Za-z0-9._-]+$/);
        const e = rawError(r);
        expect(e.code).toBe(code);
        expect(e.type).toBe('invalid_request_error');
      });
    }
  }

  it('two Authorization headers match no key: 401, not the first one let through', async () => {
    const r = await rawRequest(
      port,
      `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${KEY}\r\nAuthorization: Bearer wrong\r\n\r\n`,
    );
    expect(r.status).toBe(401);
    expect(rawError(r).code).toBe('invalid_api_key');
  });

  it('the gateway is still healthy afterwards', async () => {
    expect((await http(t.url, '/health')).status).toBe(200);
    expect((await post(t.url, '/v1/completions', { model: 'r1', prompt: 'x', max_tokens: 1 }, auth)).status).toBe(200);
  });
});
