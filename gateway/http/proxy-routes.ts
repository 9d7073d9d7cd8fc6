// The proxied inference routes (docs/http-api.md): only these paths reach a model server.

import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import type { GatewayConfig } from '../config/types.js';
import { errors } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { Cancel } from '../proxy/cancel.js';
import { withEnginePriority } from '../proxy/engine-priority.js';
import { forward, upstreamRequestHeaders } from '../proxy/forward.js';
import { asksForStream, ProgressResponse } from '../proxy/progress-comments.js';
import type { ResponseTap } from '../proxy/response-id-tap.js';
import type { ResponseTransform } from '../proxy/response-transform.js';
import type { ModelEntry } from '../scheduler/model-entry.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { RecentRequest } from '../status-types.js';
import { anthropicErrorEvent } from './anthropic-errors.js';
import { describeModel, isMultipart, readBodyModel, type BodyModel } from './body-model.js';
import { errorShapeFor, logAnsweredError, sendErrorRaw, toGatewayError } from './errors.js';
import { createPriorityOf } from './request-priority.js';
import { isoTime } from '../iso-time.js';

export const PROXIED_PATHS = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/messages',
  '/v1/messages/count_tokens',
  '/v1/rerank',
  '/v1/score',
  '/v1/audio/transcriptions',
  '/v1/audio/translations',
  '/tokenize',
  '/detokenize',
  // vLLM's un-versioned pooling routes (vllm/entrypoints/pooling/*/api_router.py)
  '/pooling',
  '/classify',
  '/rerank',
  '/v2/rerank',
  '/score',
] as const;

/** The proxied routes set their response's X-Request-Id themselves (forward.ts `responseId`). */
export const PROXIED_ROUTES: ReadonlySet<string> = new Set(PROXIED_PATHS);

export interface ProxyDeps {
  config: GatewayConfig;
  scheduler: Scheduler;
  dispatcher: Dispatcher;
  metrics: Metrics;
  /** A request arrived: its record joins the recent requests, and is updated in place until it ends. */
  recordRequest(r: RecentRequest): void;
  /** A recorded request changed (its response began, or it ended). */
  requestChanged(): void;
  /** Takes secrets out of error texts for clients without the admin token (redact.ts). */
  redact(text: string): string;
}

/**
 * The path sent upstream: the route the router matched (decoded and normalised: a percent-encoded
 * or absolute-form target is not passed on as sent) and the query exactly as sent; a #fragment,
 * which a client should never send, is dropped.
 */
export function upstreamPath(route: string, rawUrl: string): string {
  const hash = rawUrl.indexOf('#');
  const url = hash < 0 ? rawUrl : rawUrl.slice(0, hash);
  const q = url.indexOf('?');
  return q < 0 ? route : route + url.slice(q);
}

/**
 * A proxied request as the proxy needs it, whichever way it came in: through Fastify's router (the
 * Ollama routes, and anything the fast path leaves to Fastify) or through the fast path.
 */
export interface ProxiedRequest {
  id: string;
  /** The route matched: the upstream path, the log line's path and the errors' shape. */
  route: string;
  method: string;
  /** The request target as sent (its query goes upstream). */
  url: string;
  headers: IncomingHttpHeaders;
  /** It carries the admin token: error texts are shown whole (redact.ts). */
  admin: boolean;
  log: FastifyBaseLogger;
  res: ServerResponse;
  /** Takes the response over from the framework (Fastify's reply.hijack); nothing to do on the fast path. */
  hijack(): void;
}

/** A request Fastify routed, as the proxy sees it. */
export function fromFastify(request: FastifyRequest, reply: FastifyReply): ProxiedRequest {
  return {
    id: request.id,
    route: request.gatewayRoute ?? request.routeOptions.url!,
    method: request.method,
    url: request.url,
    headers: request.headers,
    admin: request.gatewayAdmin,
    log: request.log,
    res: reply.raw,
    hijack: () => reply.hijack(),
  };
}

/** What one proxied request goes to: the OpenAI routes' own, or one the Ollama routes translated. */
export interface ProxyTarget {
  entry: ModelEntry;
  /** Upstream path and query, as an OpenAI route would send it. */
  path: string;
  body: Buffer;
  /** Request headers for the upstream (defaults to the client's, cleaned). */
  headers?: Record<string, string | string[] | undefined>;
  /**
   * Rewrites the upstream's answer (another API's shape). Whatever the proxy itself writes to the
   * client (an error, a progress comment while waiting) must be in that API's shape too: a request
   * with a transform is not an SSE stream of the OpenAI routes (no `: vllm-gateway …` comments).
   */
  transform?: ResponseTransform;
  /** Watches the upstream's answer as it passes, unchanged (response-id-tap.ts). */
  tap?: ResponseTap;
  /** Called once the request holds a slot (the model is ready), before it is forwarded. */
  onAdmitted?(): void;
  /**
   * The request's keep_alive in seconds (Ollama routes; Infinity = keep loaded): it replaces the
   * model's ttlSeconds from when this request is admitted until another request with a keep_alive
   * is admitted, or the server stops. Absent or null: the one in force stays.
   */
  keepAlive?: number | null;
}

/**
 * Admission, queue, turns, forwarding with retries, the request's log line, its record and its
 * metrics: the one path every proxied request takes, whichever API it arrived in.
 */
export type Proxy = (request: ProxiedRequest, target: ProxyTarget) => Promise<void>;

export function createProxy(app: FastifyInstance, deps: ProxyDeps): Proxy {
  const { config, scheduler, dispatcher, metrics } = deps;
  const firstByteMs = config.timeouts.firstByteSeconds * 1000;
  const idleMs = config.timeouts.idleSeconds * 1000;
  const priorityOf = createPriorityOf(config);

  return async function proxy(request, target) {
    const started = Date.now();
    const { entry } = target;
    const res = request.res;

    // One cancel per request: aborted when the client goes away (seen on the response, P6, not on
    // request.raw) or when the gateway cuts the lease. (A Cancel, not an AbortController: those
    // cost several µs each on Node 20, and AbortSignal.any ~30 µs.)
    const cancel = new Cancel();

    const route = request.route;
    const record: RecentRequest = {
      id: request.id,
      model: entry.id,
      path: route,
      status: 0,
      stream: false,
      startedAt: isoTime(started),
      firstByteMs: null,
      upstreamFirstByteMs: null,
      durationMs: null,
      promptTokens: null,
      completionTokens: null,
      tokensPerSecond: null,
      priority: null,
    };
    deps.recordRequest(record); // shown in progress (status 0, durationMs null) until it ends
    res.once('close', () => {
      if (!res.writableEnded) cancel.abort(new Error('client went away'));
      record.status = res.headersSent ? res.statusCode : 499;
      record.durationMs = Date.now() - started;
      const m = metrics.forModel(entry.id);
      m.requests(record.status).inc();
      m.duration.observe(record.durationMs / 1000);
      deps.requestChanged();
      // Through the root logger with the id as a field: no per-request child logger.
      app.log.info(
        {
          reqId: request.id,
          model: entry.id,
          path: record.path,
          status: record.status,
          ms: record.durationMs,
          ttfbMs: record.firstByteMs,
          upstreamTtfbMs: record.upstreamFirstByteMs,
          priority: record.priority,
        },
        'request done',
      );
    });

    // Its lane in the model's queue (and the engine's priority): a bad X-Priority is a 400 here.
    const priority = priorityOf(request.headers);
    record.priority = priority;

    // streaming.progressComments: a streamed request that must wait hears from the gateway at once
    // (OpenAI-shaped SSE streams only: a translated answer, such as Ollama's NDJSON, has no comments).
    let progress: ProgressResponse | null = null;
    const admission = config.streaming?.progressComments && !target.transform ? scheduler.admission(entry, priority) : null;
    if (admission && admission.kind !== 'now' && asksForStream(target.body, request.headers['content-type'])) {
      if (admission.kind === 'refuse') throw admission.error; // answered with its own status, as without progress comments
      request.hijack();
      progress = new ProgressResponse(res, {
        model: entry.id,
        requestId: request.id,
        read: () => scheduler.progressOf(entry, request.id),
        errorEvent: errorShapeFor(route) === 'anthropic' ? anthropicErrorEvent : undefined,
      });
    }
    const failProgress = (err: unknown) => {
      const e = toGatewayError(err).toBody().error;
      progress!.fail(request.admin ? e : { ...e, message: deps.redact(e.message) });
    };
    let lease: Awaited<ReturnType<typeof scheduler.admit>>;
    try {
      const admitting = scheduler.admit(entry, request.id, cancel, priority);
      progress?.begin(); // after admit() queued it (synchronously), so the first comment has its place
      lease = await admitting;
      metrics
        .forModel(entry.id)
        .queueWait(priority)
        .observe((Date.now() - started) / 1000);
    } catch (err) {
      if (!progress) throw err;
      return failProgress(err);
    }
    const onCut = () => cancel.abort(lease.signal.reason);
    try {
      if (!progress) request.hijack();
      if (cancel.aborted) return;
      if (lease.signal.aborted) onCut();
      else lease.signal.addEventListener('abort', onCut);
      // Ollama's rule (server/sched.go useLoadedRunner): a request's keep_alive takes effect when it
      // is scheduled, so of overlapping requests the last one admitted wins; one without keeps what is set.
      if (target.keepAlive !== undefined && target.keepAlive !== null) scheduler.setKeepAlive(entry, target.keepAlive);
      target.onAdmitted?.();
      try {
        const c = entry.config;
        const remote = c.runtime === 'remote' ? remoteTarget(c.url) : null;
        const origin = remote ? remote.origin : entry.instance?.endpoint;
        if (!origin) throw errors.stoppedBeforeSend(entry.id);
        const headers = upstreamRequestHeaders(
          target.headers ?? request.headers,
          request.id,
          c.runtime === 'remote' && c.apiKey ? c.apiKey : null,
        );
        const body = withEnginePriority(target.body, c, target.path, priority);
        headers['content-length'] = String(body.length);
        await forward(
          dispatcher,
          {
            origin,
            method: request.method,
            path: remote ? joinPath(remote.base, target.path) : target.path,
            headers,
            body,
            signal: cancel,
            firstByteMs,
            idleMs,
            retry: config.retry,
            responseId: request.id,
            transform: target.transform,
            tap: target.tap,
            onResponseStart(ms, streaming) {
              // As the client saw it (queueing, a cold start, retries included), and the model server's own.
              record.firstByteMs = Date.now() - started;
              record.upstreamFirstByteMs = ms;
              record.status = res.statusCode;
              record.stream = streaming;
              const m = metrics.forModel(entry.id);
              m.firstByte.observe(record.firstByteMs / 1000);
              m.upstreamFirstByte.observe(ms / 1000);
              deps.requestChanged();
            },
            onRetry() {
              metrics.forModel(entry.id).retries.inc();
            },
            // The status line already went out (the request line logs 200): the failure is logged here.
            onBrokenResponse: (err) => logAnsweredError(request.log, err),
            onUsage(usage, elapsedMs) {
              if (!usage) return;
              record.promptTokens = usage.promptTokens;
              record.completionTokens = usage.completionTokens;
              // Generation speed as the client saw it: queueing excluded, the prompt's prefill included.
              record.tokensPerSecond =
                usage.completionTokens !== null && elapsedMs > 0 ? Math.round((usage.completionTokens / elapsedMs) * 10_000) / 10 : null;
              metrics.forModel(entry.id).usage(usage.promptTokens ?? 0, usage.completionTokens ?? 0);
            },
          },
          progress ? progress.asResponse() : res,
        );
      } catch (err) {
        if (progress) failProgress(err);
        else sendErrorRaw(res, err, request.id, request.log, request.admin ? undefined : deps.redact, errorShapeFor(route));
      }
    } finally {
      lease.signal.removeEventListener('abort', onCut);
      scheduler.release(entry, lease);
    }
  };
}

/** Answers one request to an OpenAI route: reads its `model`, finds the model, proxies. */
export type OpenAiHandler = (request: ProxiedRequest, body: Buffer | undefined) => Promise<void>;

/** Remembers which model made each Responses API id (response-routes.ts). */
export interface ResponseIdRecorder {
  tapFor(entry: ModelEntry): ResponseTap;
}

export function createOpenAiHandler(scheduler: Scheduler, proxy: Proxy, responseIds?: ResponseIdRecorder): OpenAiHandler {
  return async function handleOpenAi(request, body) {
    const contentType = request.headers['content-type'];
    const named = isMultipart(contentType) ? await readMultipart(body, contentType!) : readBodyModel(body, contentType);
    const entry = scheduler.resolve(named.model);
    if (!entry) {
      throw errors.modelNotConfigured(describeModel(named.model));
    }
    const outBody = named.model === entry.id ? body! : named.rewrite(entry.id);
    const tap = responseIds && request.route === '/v1/responses' ? responseIds.tapFor(entry) : undefined;
    await proxy(request, { entry, path: upstreamPath(request.route, request.url), body: outBody, tap });
  };
}

/** The OpenAI routes on Fastify's router (the fast path, fast-path.ts, takes most of their requests first). */
export function registerProxyRoutes(app: FastifyInstance, handleOpenAi: OpenAiHandler): void {
  const handle = (request: FastifyRequest, reply: FastifyReply) =>
    handleOpenAi(fromFastify(request, reply), request.body as Buffer | undefined);
  for (const path of PROXIED_PATHS) app.post(path, handle);
}

const remoteTargets = new Map<string, { origin: string; base: string }>();

/** A remote model's url split once into origin and base path (not parsed again on every request). */
function remoteTarget(url: string): { origin: string; base: string } {
  let t = remoteTargets.get(url);
  if (!t) {
    const u = new URL(url);
    t = { origin: u.origin, base: u.pathname };
    remoteTargets.set(url, t);
  }
  return t;
}

/** A remote url may carry a base path (http://host/prefix): keep it in front of the request's path. */
function joinPath(base: string, url: string): string {
  const b = base.endsWith('/') ? base.slice(0, -1) : base;
  if (b && url.startsWith('/v1/') && b.endsWith('/v1')) return b.slice(0, -3) + url;
  return b + url;
}

/** Multipart forms (transcriptions) are rare: their parser (busboy) loads on the first one. */
async function readMultipart(body: Buffer | undefined, contentType: string): Promise<BodyModel> {
  const { readMultipartModel } = await import('./multipart-model.js');
  return readMultipartModel(body, contentType);
}
