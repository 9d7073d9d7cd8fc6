// The front door (gateway/http/front-door.ts) on its own: the CORS answer every entry gives and the
// refusals before a body is asked for. The integration tests (fast-path, cors-sdk-headers,
// hardening) check that each entry answers through it the same way.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../gateway/config/load-config.js';
import { createFrontDoor } from '../../gateway/http/front-door.js';

function door() {
  const { config, issues } = parseConfigText(
    `
listen: { host: 127.0.0.1, port: 8080 }
limits: { maxBodyBytes: 1000 }
auth: { apiKeys: ["sk-k"], allowedOrigins: ["https://app.example.org"] }
models:
  r: { runtime: remote, url: "http://127.0.0.1:9" }
`,
    '<test>',
    {},
  );
  if (!config) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return createFrontDoor(config, 'admin-token');
}

function request(method: string, headers: Record<string, string>): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = '/v1/chat/completions';
  req.headers = headers;
  return req;
}

const responseTo = (req: IncomingMessage) => new ServerResponse(req);

describe('front door', () => {
  it('CORS: nothing without an Origin; allow-origin and Vary with one; a preflight gets its answer and is reported', () => {
    const d = door();
    const plain = responseTo(request('POST', {}));
    expect(d.cors(plain, 'POST', {})).toBe(false);
    expect(plain.getHeaderNames()).toEqual([]);

    const post = responseTo(request('POST', {}));
    expect(d.cors(post, 'POST', { origin: 'https://app.example.org' })).toBe(false);
    expect(post.getHeaders()).toEqual({ 'access-control-allow-origin': 'https://app.example.org', vary: 'Origin' });

    const pre = responseTo(request('OPTIONS', {}));
    const asked = { origin: 'https://app.example.org', 'access-control-request-headers': 'Authorization, X-Stainless-Os, X-Evil' };
    expect(d.cors(pre, 'OPTIONS', asked)).toBe(true);
    expect(pre.getHeaders()).toEqual({
      'access-control-allow-origin': 'https://app.example.org',
      vary: 'Origin',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'authorization, x-stainless-os',
      'access-control-max-age': '600',
    });
  });

  it('before the body: 413 for an announced body over the limit, the access refusals, else null', () => {
    const d = door();
    const ok = { host: '127.0.0.1:8080', authorization: 'Bearer sk-k' };
    expect(d.beforeBody(request('POST', { ...ok, 'content-length': '1000' }))).toBeNull();
    expect(d.beforeBody(request('POST', { ...ok, 'content-length': '1001' }))?.code).toBe('body_too_large');
    expect(d.beforeBody(request('POST', { ...ok, host: 'evil.example' }))?.code).toBe('forbidden_host');
    expect(d.beforeBody(request('POST', { host: '127.0.0.1:8080' }))?.code).toBe('invalid_api_key');
    expect(d.beforeBody(request('POST', { ...ok, origin: 'https://evil.example' }))?.code).toBe('forbidden_origin');
  });

  it('the request id: the client’s when sane, else a fresh one', () => {
    const d = door();
    expect(d.requestId({ 'x-request-id': 'abc-1' })).toBe('abc-1');
    const fresh = d.requestId({ 'x-request-id': 'has space' });
    expect(fresh).toMatch(/^[0-9a-f-]{36}$/);
  });
});
