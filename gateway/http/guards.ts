// Host, Origin and credential checks (docs/reliability.md "Security"; docs/http-api.md), the request id
// and the preflight's allowed headers. The checks are pure functions, tested without sockets;
// access.ts combines them, and the front door (front-door.ts) gives them to every entry.

import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { tokensEqual } from '../config/admin-token.js';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** "host:port" → host (keeps the brackets of an IPv6 literal), lower-cased. */
export function hostName(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

export function allowedHostNames(listenHost: string, extra: readonly string[]): Set<string> {
  const names = new Set(LOOPBACK_NAMES);
  const h = listenHost.toLowerCase();
  names.add(h.includes(':') && !h.startsWith('[') ? `[${h}]` : h);
  for (const e of extra) names.add(hostName(e));
  return names;
}

/** The gateway's own origins, always allowed so the dashboard at /ui works in a browser. */
export function ownOrigins(listenHost: string, port: number): Set<string> {
  const h = listenHost.includes(':') && !listenHost.startsWith('[') ? `[${listenHost}]` : listenHost;
  return new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`, `http://${h}:${port}`.toLowerCase()]);
}

export function bearer(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return m ? m[1] : null;
}

/** The `x-api-key` header Anthropic's clients send the key in (docs/configuration.md, auth). */
export function apiKeyHeader(value: string | string[] | undefined): string | null {
  if (typeof value !== 'string') return null;
  const v = value.trim();
  return v.length > 0 ? v : null;
}

/**
 * The authority of an absolute-form request target (`http://host:port/path`), or null when the
 * target is neither origin-form nor an http(s) absolute URL (`*`, `foo`, `ftp://…`).
 */
export function absoluteFormAuthority(target: string): string | null {
  const m = /^https?:\/\/([^/?#]*)/i.exec(target);
  if (!m) return null;
  const authority = m[1];
  const at = authority.lastIndexOf('@'); // userinfo is not part of the host
  return at < 0 ? authority : authority.slice(at + 1);
}

/**
 * Request headers a CORS preflight from an allowed origin may ask for: those the official OpenAI,
 * Anthropic and Ollama SDKs send (their builders: openai `buildHeaders`, @anthropic-ai/sdk
 * `buildHeaders` + `getPlatformHeaders`, ollama-js `fetchWithHeaders`), every `x-stainless-*`
 * included, and the gateway's own (X-Priority, X-Request-Id). Requested names outside the list are
 * left out of the answer, so the browser refuses the request (the origin is trusted, arbitrary
 * headers still are not).
 */
const PREFLIGHT_HEADERS = new Set([
  'accept',
  'anthropic-beta',
  'anthropic-dangerous-direct-browser-access',
  'anthropic-version',
  'authorization',
  'content-type',
  'idempotency-key',
  'openai-beta',
  'openai-organization',
  'openai-project',
  'user-agent',
  'x-api-key',
  'x-priority', // the gateway's own: a request's class (priority lanes)
  'x-request-id',
]);
const DEFAULT_PREFLIGHT = [...PREFLIGHT_HEADERS].join(', ');

export function preflightAllowedHeaders(requested: string | string[] | undefined): string {
  if (typeof requested !== 'string' || requested.trim() === '') return DEFAULT_PREFLIGHT;
  const allowed: string[] = [];
  for (const raw of requested.split(',')) {
    const name = raw.trim().toLowerCase();
    if (PREFLIGHT_HEADERS.has(name) || /^x-stainless-[a-z0-9-]+$/.test(name)) allowed.push(name);
  }
  return allowed.length > 0 ? allowed.join(', ') : DEFAULT_PREFLIGHT;
}

export function anySecretEquals(candidate: string | null, secrets: readonly string[]): boolean {
  if (candidate === null) return false;
  let ok = false;
  for (const s of secrets) ok = tokensEqual(candidate, s) || ok; // no early exit: constant time over the list
  return ok;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export function saneRequestId(value: unknown): string | null {
  return typeof value === 'string' && SANE_REQUEST_ID.test(value) ? value : null;
}

/** A request's id: the client's X-Request-Id when it is sane, else a new one (docs/http-api.md). */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  return saneRequestId(headers['x-request-id']) ?? randomUUID();
}
