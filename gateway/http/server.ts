// buildServer(deps) returns a Fastify instance that does not listen (docs/architecture.md rule 6).
// The front door (front-door.ts) gives every request its id, access check, CORS answer and body
// reader, through Fastify's genReqId, onRequest hook and content-type parser here and through the
// fast path for the proxied routes' usual requests; one error handler renders every failure.

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { GatewayConfig } from '../config/types.js';
import { errors } from '../errors.js';
import type { StatusHub } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { HistoryDocument, RecentRequest, StatusDocument } from '../status-types.js';
import { registerAdminRoutes } from './admin-routes.js';
import {
  answerBeforeRoute,
  answerClientError,
  answerConnect,
  errorResponse,
  errorShapeFor,
  errorShapeForTarget,
  logAnsweredError,
  toGatewayError,
} from './errors.js';
import { Redactor } from './redact.js';
import { MAX_ID_BYTES } from '../proxy/response-id-tap.js';
import { createFastPath } from './fast-path.js';
import { createFrontDoor } from './front-door.js';
import { lazyChildLoggerFactory } from './lazy-child-logger.js';
import { nodeServerOptions } from './node-server-options.js';
import { createOpenAiHandler, createProxy, PROXIED_ROUTES, registerProxyRoutes } from './proxy-routes.js';
import type { ModelActions } from '../model-actions.js';
import { onOllamaPort } from '../ollama/ollama-listener.js';
import { registerOllamaRoutes } from '../ollama/ollama-routes.js';
import { registerResponseRoutes, ResponseIds } from './response-routes.js';

export interface ServerDeps {
  config: GatewayConfig;
  scheduler: Scheduler;
  /** Load, unload and logs by hand (model-actions.ts), shared with the Electron shell. */
  actions: ModelActions;
  hub: StatusHub;
  metrics: Metrics;
  dispatcher: Dispatcher;
  adminToken: string;
  logger: Logger;
  status(): StatusDocument;
  history(seconds?: number): HistoryDocument;
  ready(): Promise<{ ok: boolean; reasons: string[] }>;
  recordRequest(r: RecentRequest): void;
  requestChanged(): void;
  /** When the config was loaded: the models' `created` (/v1/models) and `modified_at` (/api/tags). */
  loadedAt: Date;
  /** Registers the dashboard under /ui (absent in tests that don't need it). */
  registerUi?(app: FastifyInstance): void | Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The request carries the admin token: error texts and logs are shown whole (redact.ts). */
    gatewayAdmin: boolean;
    /**
     * The matched route's path, read once in onRequest: each read of request.routeOptions builds a
     * fresh object of a dozen fields.
     */
    gatewayRoute: string | undefined;
  }
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const { config } = deps;
  const door = createFrontDoor(config, deps.adminToken);
  const idleMs = config.timeouts.idleSeconds * 1000;
  // The proxied routes' usual requests are answered before Fastify's router (fast-path.ts); set
  // once the proxy exists, below.
  let fastPath: ((req: IncomingMessage, res: ServerResponse) => boolean) | null = null;
  const app = Fastify({
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    childLoggerFactory: lazyChildLoggerFactory,
    // One log line per request is written by the proxy route itself (cheaper, and no bodies).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    // No bodyLimit: bodies are read by the front door's reader (the content-type parser below).
    genReqId: (req) => door.requestId(req.headers),
    // Fastify's own 503 while closing has a body outside the error catalogue. Requests that still
    // arrive on kept-alive connections get 'Connection: close' from Fastify and reach the routes:
    // proxied ones are refused by the scheduler with 503 shutting_down (OpenAI shape).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // A path parameter may be as long as any response id the gateway remembers, percent-encoded
    // (GET /v1/responses/{id}): one longer is the route's own 404, not the router's 414.
    routerOptions: { maxParamLength: 3 * MAX_ID_BYTES + 64 },
    serverFactory: (fastifyHandler) => {
      const server = http.createServer(nodeServerOptions(idleMs), (req, res) => {
        if (fastPath === null || !fastPath(req, res)) fastifyHandler(req, res);
      });
      server.keepAliveTimeout = 65_000;
      server.setTimeout(0); // no socket inactivity timeout: a long prefill sends nothing for minutes
      return server;
    },
    // Requests the HTTP parser or the router refuses get the OpenAI shape too (docs/http-api.md).
    clientErrorHandler: answerClientError,
    frameworkErrors: (err, request, reply) => {
      const r = errorResponse(toGatewayError(err), request.id, errorShapeForTarget(request.url));
      void (reply as FastifyReply).code(r.status).headers(r.headers).send(r.body);
    },
  });
  // A CONNECT (a forward-proxy request) is answered in the error shape; Node would close the socket unanswered.
  app.server.on('connect', answerConnect);
  app.decorateRequest('gatewayAdmin', false);
  app.decorateRequest('gatewayRoute', null as unknown as string | undefined);

  // 'Expect: 100-continue' (curl adds it to bodies over 1 MiB) is answered here: 413 at once when the
  // announced body is over the limit, else '100 Continue'. The header itself is never forwarded.
  app.server.on('checkContinue', (req, res) => {
    // Refused without asking for the body (and the connection closed, the body never read).
    const refused = door.beforeBody(req);
    if (refused) return answerBeforeRoute(req, res, refused, { connection: 'close' });
    res.writeContinue();
    app.server.emit('request', req, res);
  });
  app.server.on('checkExpectation', (req, res) => {
    answerBeforeRoute(req, res, errors.expectationFailed(req.headers.expect));
  });

  // On close, Fastify closes the connections idle at that moment ('idle' above); a kept-alive
  // connection whose request was still running (a stream being drained) becomes idle only later
  // and would hold close() until keepAliveTimeout (65 s) ran out. Keep closing idle ones.
  app.addHook('preClose', (done) => {
    // From here Fastify answers every request (with 'Connection: close'), the proxied ones too.
    fastPath = null;
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    sweep.unref();
    app.server.once('close', () => clearInterval(sweep));
    done();
  });

  // Bodies are kept as bytes: the proxy reads `model` and forwards the original bytes. Read by the
  // front door's reader (the fast path's too), so the limit and its answers are the same either way.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => door.readBody(payload, done));

  const redactor = new Redactor(config, deps.adminToken);
  const redact = (text: string) => redactor.redact(text);

  // A callback hook, not an async one: no promise per request on the hot path.
  app.addHook('onRequest', (request, reply, done) => {
    // Every response carries X-Request-Id. The proxied routes put it in writeHead's header object
    // themselves (forward.ts responseId; sendErrorRaw and the error handler below): a setHeader
    // here would send every proxied response's writeHead down Node's slower merging path.
    const route = request.routeOptions.url;
    request.gatewayRoute = route;
    if (route === undefined || !PROXIED_ROUTES.has(route)) reply.raw.setHeader('x-request-id', request.id);
    const access = door.access({
      method: request.method,
      url: request.url,
      headers: request.headers,
      route,
      localPort: request.raw.socket?.localPort,
      ollamaPort: route === '/' && onOllamaPort(request.raw.socket),
    });
    if (access.error) return done(access.error);
    request.gatewayAdmin = access.admin;
    if (door.cors(reply.raw, request.method, request.headers)) {
      void reply.code(204).send(); // a preflight: answered, the route does not run
      return;
    }
    done();
  });

  app.setErrorHandler((raw, request, reply) => {
    const err = toGatewayError(raw);
    logAnsweredError(request.log, err);
    const shape = errorShapeFor(request.routeOptions.url ?? request.url);
    const r = errorResponse(err, request.id, shape, request.gatewayAdmin ? undefined : redact);
    void reply.code(r.status).headers(r.headers).send(r.body);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const err = errors.noRoute(request.method, path);
    const r = errorResponse(err, request.id, errorShapeFor(request.url));
    void reply.code(r.status).headers(r.headers).send(r.body);
  });

  const proxy = createProxy(app, { ...deps, redact });
  const responseIds = new ResponseIds();
  const handleOpenAi = createOpenAiHandler(deps.scheduler, proxy, responseIds);
  registerProxyRoutes(app, handleOpenAi);
  registerResponseRoutes(app, { scheduler: deps.scheduler, proxy, ids: responseIds });
  fastPath = createFastPath({ door, handleOpenAi, logger: app.log, redact });
  registerOllamaRoutes(app, { ...deps, proxy, onOllamaPort });
  registerAdminRoutes(app, { ...deps, redact });
  if (deps.registerUi) void app.register(async (scope) => deps.registerUi!(scope));
  return app;
}
