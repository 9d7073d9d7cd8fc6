// The proxied OpenAI routes' usual requests, taken before Fastify's router: a POST to one of those
// paths exactly as written (no percent-encoding, no absolute form), with a JSON body or none.
// Fastify stays the server and answers everything else: any other request, and these routes'
// unusual forms (another Content-Type, an encoded or absolute-form target), so each request meets
// the same front door (front-door.ts: request id, access, CORS, body limit) and error answers either
// way; only the framework's per-request work (its request and reply objects, hooks, router and
// content-type parsing: ~30 µs of the ~100 µs a proxied request costs, docs/benchmarks.md) is left
// out for the requests that make up the load.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { errorShapeFor, sendErrorRaw } from './errors.js';
import type { FrontDoor } from './front-door.js';
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
  door: FrontDoor;
  handleOpenAi: OpenAiHandler;
  /** The root logger: each request gets its child (with its id) only if it logs. */
  logger: FastifyBaseLogger;
  /** Takes secrets out of error texts for clients without the admin token (redact.ts). */
  redact(text: string): string;
}

const noHijack = () => {};

/** Returns the server's request listener in front of Fastify's: true when it took the request. */
export function createFastPath(deps: FastPathDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { door, handleOpenAi, logger, redact } = deps;

  return function fastPath(req, res) {
    const headers = req.headers;
    const route = fastPathRoute(req.method, req.url, headers['content-type']);
    if (route === null) return false;
    const url = req.url!;
    const id = door.requestId(headers);
    const log = new LazyChildLogger(logger, { reqId: id }, {}) as unknown as FastifyBaseLogger;
    const access = door.access({ method: 'POST', url, headers, route, localPort: req.socket.localPort });
    const request: ProxiedRequest = { id, route, method: 'POST', url, headers, admin: access.admin, log, res, hijack: noHijack };
    const fail = (err: unknown) => sendErrorRaw(res, err, id, log, request.admin ? undefined : redact, errorShapeFor(route));
    if (access.error) {
      fail(access.error);
      return true;
    }
    door.cors(res, 'POST', headers); // never a preflight: those are OPTIONS
    door.readBody(req, (err, body) => {
      if (err === null) return void handleOpenAi(request, body).catch(fail);
      // As Fastify does for a body it refuses: the rest is never read (it may be endless), so the
      // connection cannot carry another request; Node closes it once the answer is out.
      res.setHeader('connection', 'close');
      fail(err);
    });
    return true;
  };
}
