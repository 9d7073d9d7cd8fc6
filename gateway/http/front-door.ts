// The front door: what every request meets before a route handles it, written once. The proxied
// routes' fast path (fast-path.ts) and Fastify (server.ts: genReqId, the onRequest hook, the
// content-type parser and the 'Expect: 100-continue' answer, on the main port and on
// listen.ollamaPort alike, ollama-listener.ts) call these and nothing else for them:
// - the request id (the client's X-Request-Id when sane);
// - access: Host and Origin allow-lists, admin token and API keys (access.ts);
// - CORS: the allow-origin answer, and the preflight's;
// - the body: limits.maxBodyBytes, announced or counted, and Content-Length checks (request-body.ts),
//   with a lingering close for a body refused part-way (linger.ts).

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../config/types.js';
import { errors, type GatewayError } from '../errors.js';
import { createAccessCheck, type AccessCheck } from './access.js';
import { preflightAllowedHeaders, requestIdOf } from './guards.js';
import { lingerBeforeClose } from './linger.js';
import { announcedOverLimit, readBody } from './request-body.js';

/** Bytes a refused body may still be read (and dropped) after its answer: at least this, else maxBodyBytes. */
const LINGER_MIN_BYTES = 16 * 1024 * 1024;

export interface FrontDoor {
  requestId(headers: IncomingHttpHeaders): string;
  access: AccessCheck;
  /**
   * The CORS headers for a request that passed `access` (so its Origin, if any, is allowed), set on
   * `res`. True when the request is a preflight: the caller answers 204 with nothing else.
   */
  cors(res: ServerResponse, method: string | undefined, headers: IncomingHttpHeaders): boolean;
  /**
   * What refuses a request that asks before sending its body ('Expect: 100-continue'): a body
   * announced over the limit, or a Host, Origin or API key `access` would refuse (no route has
   * matched yet, so the admin token waits for the router). Null: ask for the body.
   */
  beforeBody(req: IncomingMessage): GatewayError | null;
  /** The body within limits.maxBodyBytes (request-body.ts). */
  readBody(req: IncomingMessage, done: (err: GatewayError | null, body?: Buffer) => void): void;
}

export function createFrontDoor(config: GatewayConfig, adminToken: string): FrontDoor {
  const limit = config.limits.maxBodyBytes;
  const access = createAccessCheck(config, adminToken);
  return {
    requestId: requestIdOf,
    access,
    cors(res, method, headers) {
      const origin = headers.origin;
      if (origin === undefined) return false;
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      if (method !== 'OPTIONS') return false;
      res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
      res.setHeader('access-control-allow-headers', preflightAllowedHeaders(headers['access-control-request-headers']));
      res.setHeader('access-control-max-age', '600');
      return true;
    },
    beforeBody(req) {
      if (announcedOverLimit(req.headers, limit)) return errors.bodyTooLarge();
      const early = access({
        method: req.method ?? 'POST',
        url: req.url ?? '/',
        headers: req.headers,
        route: undefined,
        localPort: req.socket.localPort,
      });
      return early.error;
    },
    readBody: (req, done) =>
      readBody(req, limit, (err, body) => {
        // Refused part-way: its answer closes the connection, but only once the client stops sending
        // (or a bound is reached), so that it gets to read the answer (linger.ts).
        if (err) lingerBeforeClose(req.socket, Math.max(limit, LINGER_MIN_BYTES));
        done(err, body);
      }),
  };
}
