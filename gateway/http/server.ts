// buildServer(deps) returns a Fastify instance that does not listen (ARCHITECTURE rule 6).
// One onRequest hook applies the request id, Host/Origin allow-lists and credentials to every
// route; one error handler renders every failure in the OpenAI shape.

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { GatewayConfig } from '../config/types.js';
import { GatewayError } from '../errors.js';
import type { StatusHub } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { HistoryDocument, RecentRequest, StatusDocument } from '../status-types.js';
import { registerAdminRoutes } from './admin-routes.js';
import { errorBody, errorHeaders, errorShapeFor, toGatewayError } from './errors.js';
import { allowedHostNames, anySecretEquals, bearer, hostName, ownOrigins, saneRequestId } from './guards.js';
import { lazyChildLoggerFactory } from './lazy-child-logger.js';
import { registerProxyRoutes } from './proxy-routes.js';
import { onOllamaPort } from '../ollama/ollama-listener.js';
import { registerOllamaRoutes } from '../ollama/ollama-routes.js';

export interface ServerDeps {
  config: GatewayConfig;
  scheduler: Scheduler;
  hub: StatusHub;
  metrics: Metrics;
  dispatcher: Dispatcher;
  adminToken: string;
  logger: Logger;
  status(): StatusDocument;
  history(seconds?: number): HistoryDocument;
  ready(): Promise<{ ok: boolean; reasons: string[] }>;
  recordRequest(r: RecentRequest): void;
  /** When the config was loaded: the models' `created` (/v1/models) and `modified_at` (/api/tags). */
  loadedAt: Date;
  /** Registers the dashboard under /ui (absent in tests that don't need it). */
  registerUi?(app: FastifyInstance): void | Promise<void>;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const { config } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    childLoggerFactory: lazyChildLoggerFactory,
    // One log line per request is written by the proxy route itself (cheaper, and no bodies).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit: config.limits.maxBodyBytes,
    genReqId: (req) => saneRequestId(req.headers['x-request-id']) ?? randomUUID(),
    // Fastify's own 503 while closing has a body outside the error catalogue. Requests that still
    // arrive on kept-alive connections get 'Connection: close' from Fastify and reach the routes:
    // proxied ones are refused by the scheduler with 503 shutting_down (OpenAI shape).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Slow-header clients (slowloris) are cut after 30 s; long generations are unaffected.
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    requestTimeout: 0,
  });
  app.server.headersTimeout = 30_000;

  // On close, Fastify closes the connections idle at that moment ('idle' above); a kept-alive
  // connection whose request was still running (a stream being drained) becomes idle only later
  // and would hold close() until keepAliveTimeout (65 s) ran out. Keep closing idle ones.
  app.addHook('preClose', (done) => {
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    sweep.unref();
    app.server.once('close', () => clearInterval(sweep));
    done();
  });

  // Bodies are kept as bytes: the proxy reads `model` and forwards the original bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

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
  const everyKey = [...apiKeys, deps.adminToken];

  /** The checks every request passes: returns an error to answer with, or null to go on. */
  const guard = (request: FastifyRequest): GatewayError | null => {
    const host = request.headers.host;
    if (!host || !hosts.has(hostName(host))) {
      return new GatewayError('forbidden_host', `Host "${host ?? ''}" is not allowed; add it to auth.allowedHosts`);
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !originAllowed(origin, request.raw.socket?.localPort)) {
      return new GatewayError('forbidden_origin', `Origin "${origin}" is not allowed; add it to auth.allowedOrigins`);
    }
    if (origin !== undefined && request.method === 'OPTIONS') return null; // a CORS preflight carries no credentials
    const q = request.url.indexOf('?');
    const path = q < 0 ? request.url : request.url.slice(0, q);
    if (path === '/health') return null;
    const token = bearer(request.headers.authorization);
    if (request.method === 'POST' && path.startsWith('/gateway/')) {
      return anySecretEquals(token, [deps.adminToken])
        ? null
        : new GatewayError(
            'invalid_admin_token',
            'This route needs "Authorization: Bearer <admin token>" (printed by `serve`, or in the .admin-token file beside the config)',
          );
    }
    if (apiKeys.length > 0 && !(path === '/ui' || path.startsWith('/ui/')) && !anySecretEquals(token, everyKey)) {
      return new GatewayError('invalid_api_key', 'Missing or wrong API key: send "Authorization: Bearer <key>"');
    }
    return null;
  };

  // A callback hook, not an async one: no promise per request on the hot path.
  app.addHook('onRequest', (request, reply, done) => {
    reply.raw.setHeader('x-request-id', request.id);
    const origin = request.headers.origin;
    const refused = guard(request);
    if (refused) return done(refused);
    if (origin !== undefined) {
      reply.raw.setHeader('access-control-allow-origin', origin);
      reply.raw.setHeader('vary', 'Origin');
      if (request.method === 'OPTIONS') {
        void reply
          .code(204)
          .header('access-control-allow-methods', 'GET, POST, OPTIONS')
          .header('access-control-allow-headers', 'authorization, content-type, x-request-id')
          .header('access-control-max-age', '600')
          .send();
        return; // answered: the route does not run
      }
    }
    done();
  });

  app.setErrorHandler((raw, request, reply) => {
    const err = toGatewayError(raw);
    if (err.status >= 500)
      request.log.error({ code: err.code, err: err.message, cause: (err.cause as Error | undefined)?.message }, 'request failed');
    void reply
      .code(err.status)
      .headers(errorHeaders(err))
      .type('application/json; charset=utf-8')
      .send(errorBody(err, errorShapeFor(request.url.split('?')[0])));
  });

  app.setNotFoundHandler((request, reply) => {
    const err = new GatewayError(
      'not_found',
      `No route ${request.method} ${request.url.split('?')[0]}: the gateway only forwards the OpenAI inference paths`,
    );
    void reply
      .code(404)
      .type('application/json; charset=utf-8')
      .send(errorBody(err, errorShapeFor(request.url.split('?')[0])));
  });

  const proxy = registerProxyRoutes(app, deps);
  registerOllamaRoutes(app, { ...deps, proxy, onOllamaPort });
  registerAdminRoutes(app, deps);
  if (deps.registerUi) void app.register(async (scope) => deps.registerUi!(scope));
  return app;
}
