// The proxied OpenAI routes' usual requests, taken before Fastify's router: a POST to one of those
// paths exactly as written (no percent-encoding, no absolute form), with a JSON body or none.
// Fastify stays the server and answers everything else: any other request, and these routes'
// unusual forms (another Content-Type, an encoded or absolute-form target), so each request meets
// the same checks (access.ts), limits and error answers either way; only the framework's per-request
// work (its request and reply objects, hooks, router and content-type parsing: ~30 µs of the ~100 µs a
// proxied request costs, docs/benchmarks.md) is left out for the requests that make up the load.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { GatewayError } from '../errors.js';
import type { AccessCheck } from './access.js';
import { errorShapeFor, sendErrorRaw } from './errors.js';
import { allowOrigin, requestIdOf } from './guards.js';
import { LazyChildLogger } from './lazy-child-logger.js';
import { PROXIED_ROUTES, type OpenAiHandler, type ProxiedRequest } from './proxy-routes.js';

/** Content-Types the fast path reads (lower-cased): the ones clients send. Others go to Fastify's parser. */
const JSON_TYPES = new Set(['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8']);

/** The route a request takes the fast path to, or null when Fastify's router is to answer it. */
export function fastPathRoute(method: string | undefined, url: string | undefined, contentType: string | undefined): string | null {
  if (method !== 'POST' || url === undefined) return null;
  if (contentType !== undefined && !JSON_TYPES.has(contentType.toLowerCase())) return null;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return PROXIED_ROUTES.has(path) ? path : null;
}

export interface FastPathDeps {
  checkAccess: AccessCheck;
  handleOpenAi: OpenAiHandler;
  /** The root logger: each request gets its child (with its id) only if it logs. */
  logger: FastifyBaseLogger;
  maxBodyBytes: number;
  /** Takes secrets out of error texts for clients without the admin token (redact.ts). */
  redact(text: string): string;
}

const noHijack = () => {};

/** Returns the server's request listener in front of Fastify's: true when it took the request. */
export function createFastPath(deps: FastPathDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { checkAccess, handleOpenAi, logger, maxBodyBytes, redact } = deps;

  return function fastPath(req, res) {
    const headers = req.headers;
    const route = fastPathRoute(req.method, req.url, headers['content-type']);
    if (route === null) return false;
    const url = req.url!;
    const id = requestIdOf(headers);
    const log = new LazyChildLogger(logger, { reqId: id }, {}) as unknown as FastifyBaseLogger;
    const access = checkAccess({ method: 'POST', url, headers, route, localPort: req.socket.localPort });
    const request: ProxiedRequest = { id, route, method: 'POST', url, headers, admin: access.admin, log, res, hijack: noHijack };
    const fail = (err: unknown) => sendErrorRaw(res, err, id, log, request.admin ? undefined : redact, errorShapeFor(route));
    if (access.error) {
      fail(access.error);
      return true;
    }
    const origin = headers.origin;
    if (origin !== undefined) allowOrigin(res, origin);
    readBody(req, maxBodyBytes, (err, body) => {
      if (err) fail(err);
      else handleOpenAi(request, body).catch(fail);
    });
    return true;
  };
}

/**
 * The request's body as bytes (undefined when it has none), within `limit`: what Fastify's buffer
 * parser gives the routes, with the same answers (413 over the limit, 400 for a length that does
 * not match what came).
 */
function readBody(req: IncomingMessage, limit: number, done: (err: GatewayError | null, body?: Buffer) => void): void {
  const lengthHeader = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (lengthHeader === undefined || lengthHeader === '0')) {
    // No body: Fastify passes none when the request has no Content-Type, an empty one otherwise.
    done(null, req.headers['content-type'] === undefined ? undefined : Buffer.alloc(0));
    return;
  }
  const length = Number(lengthHeader);
  if (length > limit) return done(tooLarge());
  const chunks: Buffer[] = [];
  let received = 0;
  const cleanup = () => {
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    req.removeListener('error', onError);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) {
      cleanup();
      done(tooLarge());
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = () => {
    cleanup();
    if (!Number.isNaN(length) && received !== length) {
      done(new GatewayError('invalid_json', 'Request body size did not match Content-Length'));
      return;
    }
    // A copy, as Fastify makes: the body outlives this event (it may wait in a queue), and a
    // parser's chunk must not be trusted to stay unchanged that long.
    done(null, Buffer.concat(chunks, received));
  };
  const onError = (err: Error) => {
    cleanup();
    done(new GatewayError('invalid_request', err.message, { cause: err }));
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
}

const tooLarge = () => new GatewayError('body_too_large', 'The request body is larger than limits.maxBodyBytes');
