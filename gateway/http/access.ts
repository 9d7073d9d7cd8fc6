// Who may reach a route (docs/reliability.md "Security"): the Host and Origin allow-lists, the
// admin token and the API keys. One check for every request, whichever way it came in (the front door,
// front-door.ts, for Fastify's onRequest hook and the proxied routes' fast path).

import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayConfig } from '../config/types.js';
import { errors, type GatewayError } from '../errors.js';
import { absoluteFormAuthority, allowedHostNames, anySecretEquals, apiKeyHeader, bearer, hostName, ownOrigins } from './guards.js';

export interface AccessRequest {
  method: string;
  /** The request target as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The route the router matched (decoded, normalised path); undefined when none did. */
  route: string | undefined;
  /** The port the connection came in on: the gateway's own origins depend on it. */
  localPort: number | undefined;
  /** It came in on listen.ollamaPort (ollama-listener.ts): `GET /` there is Ollama's liveness probe. */
  ollamaPort?: boolean;
}

/** Refused with `error`, or let through (`admin`: it carries the admin token). */
export type Access = { error: GatewayError; admin: false } | { error: null; admin: boolean };

const LET_THROUGH: Access = { error: null, admin: false };
const LET_THROUGH_ADMIN: Access = { error: null, admin: true };
const refused = (error: GatewayError): Access => ({ error, admin: false });

export type AccessCheck = (request: AccessRequest) => Access;

/** The dashboard's page, its files and the site icon: nothing secret, and a browser sends no key for them. */
function isPublicPage(route: string | undefined): boolean {
  return route !== undefined && (route === '/ui' || route.startsWith('/ui/') || route === '/favicon.ico');
}

export function createAccessCheck(config: GatewayConfig, adminToken: string): AccessCheck {
  const hosts = allowedHostNames(config.listen.host, config.auth.allowedHosts);
  const extraOrigins = new Set(config.auth.allowedOrigins.map((o) => o.toLowerCase().replace(/\/$/, '')));
  // The gateway's own origins, per port it listens on (the main port, and listen.ollamaPort).
  const own = new Map<number, Set<string>>();
  const originAllowed = (origin: string, localPort: number | undefined) => {
    const port = localPort ?? 0;
    let mine = own.get(port);
    if (!mine) {
      mine = port > 0 ? ownOrigins(config.listen.host, port) : new Set();
      own.set(port, mine);
    }
    const o = origin.toLowerCase();
    return mine.has(o) || extraOrigins.has(o);
  };
  const apiKeys = config.auth.apiKeys;
  const everyKey = [...apiKeys, adminToken];
  const admins = [adminToken];

  return function checkAccess(request) {
    const { url, headers, route } = request;
    const host = headers.host;
    if (!host) return refused(errors.noHost());
    // Repeated headers arrive joined (server.ts joinDuplicateHeaders), and no host name has a comma.
    if (host.includes(',')) return refused(errors.manyHosts());
    if (!hosts.has(hostName(host))) {
      return refused(errors.forbiddenHost(host));
    }
    if (url.charCodeAt(0) !== 47 /* '/' */) {
      // An absolute-form target (RFC 9112 §3.2.2) names the host itself: it must be one of ours too.
      const authority = absoluteFormAuthority(url);
      if (authority === null || !hosts.has(hostName(authority))) {
        return refused(errors.forbiddenTarget(url));
      }
    }
    const origin = headers.origin;
    if (origin !== undefined && !originAllowed(origin, request.localPort)) {
      return refused(errors.forbiddenOrigin(origin));
    }
    if (origin !== undefined && request.method === 'OPTIONS') return LET_THROUGH; // a CORS preflight carries no credentials
    // Access is decided on the route the router matched (decoded, normalised path), never on the
    // raw target: '/%67ateway/…' and 'http://host/gateway/…' reach the same route and the same checks.
    if (route === '/health') return LET_THROUGH;
    // Ollama answers `GET /` (and HEAD) without credentials, and tools probe it before anything
    // else ("Ollama is running"): on the Ollama port it needs no key either.
    if (route === '/' && request.ollamaPort === true && (request.method === 'GET' || request.method === 'HEAD')) return LET_THROUGH;
    const token = bearer(headers.authorization);
    const isAdmin = token !== null && anySecretEquals(token, admins);
    if (request.method === 'POST' && route !== undefined && route.startsWith('/gateway/')) {
      return isAdmin ? LET_THROUGH_ADMIN : refused(errors.adminTokenRequired());
    }
    if (apiKeys.length > 0 && !isAdmin && !isPublicPage(route)) {
      const key = token ?? apiKeyHeader(headers['x-api-key']);
      if (!anySecretEquals(key, everyKey)) {
        return refused(errors.apiKeyRequired());
      }
    }
    return isAdmin ? LET_THROUGH_ADMIN : LET_THROUGH;
  };
}
