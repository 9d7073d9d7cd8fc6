// Host, Origin and credential checks (docs/reliability.md "Security"; docs/http-api.md). Pure functions, so the
// rules are tested without sockets; server.ts applies them in one onRequest hook.

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
