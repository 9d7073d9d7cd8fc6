// CORS preflights from an allowed origin allow the request headers the official SDKs send
// (docs/http-api.md). The OpenAI list is captured from the real `openai` package; the Anthropic and
// Ollama lists are read from their sources (see the comments).

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, baseYaml, cleanupAll, http, startGateway, type TestGateway } from './helpers.js';

const ORIGIN = 'https://app.example.org';
let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(
    baseYaml(`models:\n  r1: { runtime: remote, url: "http://127.0.0.1:9" }`, {
      extra: `auth: { adminToken: ${ADMIN_TOKEN}, apiKeys: ["k1"], allowedOrigins: ["${ORIGIN}"] }`,
    }).replace(/^auth: \{ adminToken: [^}]*\}\n/m, ''),
  );
});
afterAll(cleanupAll);

/** The header names the real OpenAI client sends with a chat completion (captured from a local server). */
async function openaiHeaderNames(): Promise<string[]> {
  let seen: IncomingHttpHeaders = {};
  const srv = createServer((req, res) => {
    seen = req.headers;
    req.resume();
    res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"x"}}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  try {
    const client = new OpenAI({
      baseURL: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1`,
      apiKey: 'k1',
      organization: 'org-1',
      project: 'proj-1',
      maxRetries: 0,
    });
    await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch(() => {});
  } finally {
    srv.close();
  }
  // What a browser would list in Access-Control-Request-Headers: no forbidden names (those Node's
  // fetch adds by itself: host, connection, sec-fetch-*…), no CORS-safelisted accept-language.
  const notListed = new Set(['host', 'connection', 'content-length', 'accept-encoding', 'accept-language']);
  return Object.keys(seen).filter((h) => !notListed.has(h) && !h.startsWith('sec-'));
}

/**
 * @anthropic-ai/sdk `BaseAnthropic.buildHeaders` (src/client.ts) with `getPlatformHeaders`
 * (src/internal/detect-platform.ts), `authHeaders` (X-Api-Key), `dangerouslyAllowBrowser` and the
 * betas header; the helpers add x-stainless-helper-method.
 */
const ANTHROPIC = [
  'accept',
  'user-agent',
  'x-stainless-retry-count',
  'x-stainless-timeout',
  'x-stainless-lang',
  'x-stainless-package-version',
  'x-stainless-os',
  'x-stainless-arch',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'x-stainless-helper-method',
  'anthropic-dangerous-direct-browser-access',
  'anthropic-version',
  'anthropic-beta',
  'x-api-key',
  'content-type',
];

/** ollama-js `fetchWithHeaders` (src/utils.ts) and the Authorization header the browser client adds. */
const OLLAMA = ['content-type', 'accept', 'user-agent', 'authorization'];

async function preflight(requested: string[]) {
  const res = await http(t.url, '/v1/chat/completions', {
    method: 'OPTIONS',
    headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': requested.join(', ') },
  });
  expect(res.status).toBe(204);
  expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
  return String(res.headers['access-control-allow-headers'] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase());
}

describe('CORS preflight: the SDKs’ request headers are allowed', () => {
  it('the OpenAI client (captured from the real package)', async () => {
    const names = await openaiHeaderNames();
    expect(names).toContain('x-stainless-retry-count');
    expect(names).toContain('openai-organization');
    const allowed = await preflight(names);
    for (const n of names) expect(allowed, n).toContain(n);
  });

  it('the Anthropic client', async () => {
    const allowed = await preflight(ANTHROPIC);
    for (const n of ANTHROPIC) expect(allowed, n).toContain(n);
  });

  it('ollama-js', async () => {
    const allowed = await preflight(OLLAMA);
    for (const n of OLLAMA) expect(allowed, n).toContain(n);
  });

  it('the gateway’s own request headers: X-Priority (priority lanes) and X-Request-Id', async () => {
    const allowed = await preflight(['content-type', 'authorization', 'X-Priority', 'x-request-id']);
    for (const n of ['x-priority', 'x-request-id']) expect(allowed, n).toContain(n);
  });

  it('a header no SDK sends is not allowed', async () => {
    const allowed = await preflight(['content-type', 'x-evil-header']);
    expect(allowed).toContain('content-type');
    expect(allowed).not.toContain('x-evil-header');
  });
});
