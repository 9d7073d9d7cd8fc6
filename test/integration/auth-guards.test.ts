// API keys, the admin token, and the Host / Origin allow-lists (docs/http-api.md, docs/reliability.md "Security").

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, baseYaml, chat, cleanupAll, errorOf, http, type Res, startGateway, type TestGateway } from './helpers.js';

const KEY = 'sk-test-key-1';
let t: TestGateway;
let port: number;

beforeAll(async () => {
  t = await startGateway(
    baseYaml(`models:\n  r1: { runtime: remote, url: "http://127.0.0.1:9" }`, {
      extra: `auth: { adminToken: ${ADMIN_TOKEN}, apiKeys: ["${KEY}"], allowedHosts: ["gw.example.org"], allowedOrigins: ["https://app.example.org"] }`,
    }).replace(/^auth: \{ adminToken: [^}]*\}\n/m, ''),
  );
  port = Number(new URL(t.url).port);
});
afterAll(cleanupAll);

const bearer = (s: string) => ({ authorization: `Bearer ${s}` });

function expectError(res: Res, status: number, code: string, type: string): void {
  expect(res.status, res.text).toBe(status);
  const e = errorOf(res);
  expect(e.code).toBe(code);
  expect(e.type).toBe(type);
  expect(e.param).toBeNull();
}

describe('API keys', () => {
  it('/health needs no key', async () => {
    const res = await http(t.url, '/health');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: 'ok' });
  });

  it('every other route answers 401 invalid_api_key without a key or with a wrong one', async () => {
    for (const path of ['/v1/models', '/gateway/status', '/metrics', '/ready', '/gateway/models/r1/logs']) {
      expectError(await http(t.url, path), 401, 'invalid_api_key', 'authentication_error');
      expectError(await http(t.url, path, { headers: bearer('sk-wrong') }), 401, 'invalid_api_key', 'authentication_error');
    }
    expectError(await http(t.url, '/v1/models', { headers: { authorization: KEY } }), 401, 'invalid_api_key', 'authentication_error');
    const res = await http(t.url, '/v1/chat/completions', {
      method: 'POST',
      body: JSON.stringify(chat('r1')),
      headers: { 'content-type': 'application/json' },
    });
    expectError(res, 401, 'invalid_api_key', 'authentication_error');
  });

  it('an API key or the admin token opens them', async () => {
    expect((await http(t.url, '/v1/models', { headers: bearer(KEY) })).status).toBe(200);
    expect((await http(t.url, '/v1/models', { headers: bearer(ADMIN_TOKEN) })).status).toBe(200);
    expect((await http(t.url, '/gateway/status', { headers: { authorization: `bearer ${KEY}` } })).status).toBe(200);
  });
});

describe('the admin token', () => {
  it('POST /gateway/* without it, or with an API key, → 401 invalid_admin_token', async () => {
    for (const headers of [{}, bearer(KEY), bearer('nope'), bearer(ADMIN_TOKEN + 'x')]) {
      for (const path of ['/gateway/models/r1/load', '/gateway/models/r1/unload', '/gateway/models/nope/load']) {
        expectError(await http(t.url, path, { method: 'POST', headers }), 401, 'invalid_admin_token', 'authentication_error');
      }
    }
  });

  it('with it, the admin routes answer', async () => {
    const res = await http(t.url, '/gateway/models/r1/load', { method: 'POST', headers: bearer(ADMIN_TOKEN) });
    expect(res.status).toBe(200);
    expect(res.json.id).toBe('r1');
  });
});

describe('Host allow-list', () => {
  it('a foreign Host → 403 forbidden_host on every route, /health included', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, '127.0.0.1.evil.example', 'localhost.evil', '']) {
      for (const path of ['/health', '/v1/models', '/gateway/status']) {
        const res = await http(t.url, path, { headers: { host, ...bearer(KEY) } });
        if (host === '') {
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          continue;
        }
        expectError(res, 403, 'forbidden_host', 'permission_error');
      }
    }
  });

  it('loopback names and configured extra hosts are allowed', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'gw.example.org', `GW.example.org:${port}`]) {
      const res = await http(t.url, '/v1/models', { headers: { host, ...bearer(KEY) } });
      expect(res.status, host).toBe(200);
    }
  });
});

describe('Origin allow-list (CORS)', () => {
  it('a foreign or "null" Origin → 403 forbidden_origin', async () => {
    for (const origin of [
      'https://evil.example',
      'null',
      `http://127.0.0.1:${port + 1}`,
      'https://app.example.org.evil',
      'http://app.example.org',
    ]) {
      expectError(await http(t.url, '/v1/models', { headers: { origin, ...bearer(KEY) } }), 403, 'forbidden_origin', 'permission_error');
    }
    expectError(await http(t.url, '/health', { headers: { origin: 'https://evil.example' } }), 403, 'forbidden_origin', 'permission_error');
  });

  it('an allowed origin is echoed, never "*"; the gateway\'s own origins are allowed', async () => {
    for (const origin of ['https://app.example.org', `http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
      const res = await http(t.url, '/v1/models', { headers: { origin, ...bearer(KEY) } });
      expect(res.status, origin).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBe(origin);
    }
    const none = await http(t.url, '/v1/models', { headers: bearer(KEY) });
    expect(none.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('a preflight from an allowed origin is answered without credentials', async () => {
    const res = await http(t.url, '/v1/chat/completions', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.org', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.org');
    expect(String(res.headers['access-control-allow-headers'])).toMatch(/authorization/);
  });
});
