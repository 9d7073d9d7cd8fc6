// The gateway's own routes (docs/http-api.md): model list, health, readiness, status, events,
// load / unload / logs, metrics.

import type { FastifyInstance } from 'fastify';
import type { GatewayConfig } from '../config/types.js';
import { errors } from '../errors.js';
import type { StatusHub } from '../events.js';
import type { Metrics } from '../metrics.js';
import { DEFAULT_LOG_TAIL, MAX_LOG_TAIL, type ModelActions } from '../model-actions.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { WINDOW_SECONDS } from '../engine/history.js';
import type { HistoryDocument, StatusDocument } from '../status-types.js';
import { frameCache, StatusStream } from './status-stream.js';
import type { ModelConfig } from '../config/types.js';
import { maxModelLen } from '../ollama/model-info.js';

const maxModelLenField = (c: ModelConfig): { max_model_len?: number } => {
  const v = maxModelLen(c);
  return v === null ? {} : { max_model_len: v };
};

export interface AdminDeps {
  /** timeouts.idleSeconds: how long an event subscriber may read nothing before it is cut. */
  config: Pick<GatewayConfig, 'timeouts'>;
  scheduler: Scheduler;
  actions: ModelActions;
  hub: StatusHub;
  metrics: Metrics;
  status(): StatusDocument;
  history(seconds?: number): HistoryDocument;
  ready(): Promise<{ ok: boolean; reasons: string[] }>;
  /** When the config was loaded: each model's `created` (Unix seconds). */
  loadedAt: Date;
  /** Takes secrets out of texts shown to clients without the admin token (redact.ts). */
  redact(text: string): string;
}

/**
 * A querystring of boolean flags, each `true` or `false` (Fastify's validator turns only those two
 * words into booleans: `force=1` or `wait=no` is a 400, not silently false).
 */
function flags(defaults: Record<string, boolean>) {
  const properties = Object.fromEntries(Object.entries(defaults).map(([name, value]) => [name, { type: 'boolean', default: value }]));
  return { type: 'object', properties };
}

export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { scheduler, actions } = deps;

  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/ready', async (_req, reply) => {
    const r = await deps.ready();
    return reply.code(r.ok ? 200 : 503).send({ status: r.ok ? 'ready' : 'not_ready', reasons: r.reasons });
  });

  const created = Math.floor(deps.loadedAt.getTime() / 1000);
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [...scheduler.entries.values()].map((e) => ({
      id: e.id,
      object: 'model',
      created: created,
      owned_by: 'vllm-gateway',
      state: e.state,
      aliases: [...e.config.aliases],
      // vLLM's own /v1/models carries it (clients such as Continue's vLLM provider read it).
      ...maxModelLenField(e.config),
    })),
  }));

  /** The status document as a client without the admin token may see it: start errors redacted. */
  const forClient = (doc: StatusDocument, admin: boolean): StatusDocument =>
    admin || !doc.models.some((m) => m.error)
      ? doc
      : { ...doc, models: doc.models.map((m) => (m.error ? { ...m, error: deps.redact(m.error) } : m)) };

  app.get('/gateway/status', async (request) => forClient(deps.status(), request.gatewayAdmin));

  // ?seconds=N (1–300, default 300): only the last N seconds.
  app.get<{ Querystring: { seconds?: string } }>('/gateway/history', async (request) => {
    const raw = request.query.seconds;
    if (raw === undefined) return deps.history();
    const seconds = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
    if (!(seconds >= 1 && seconds <= WINDOW_SECONDS)) {
      throw errors.historySecondsOutOfRange(WINDOW_SECONDS, raw);
    }
    return deps.history(seconds);
  });

  // Event streams never end on their own: end them when the server closes, or close() would wait
  // for every open dashboard tab.
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  const frame = frameCache((doc: StatusDocument, admin: boolean) => `event: status\ndata: ${JSON.stringify(forClient(doc, admin))}\n\n`);
  const stallMs = deps.config.timeouts.idleSeconds * 1000;

  app.get('/gateway/events', (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const admin = request.gatewayAdmin;
    const stream = new StatusStream(res, {
      stallMs,
      latest: () => frame(deps.status(), admin),
      onCut: () => request.log.info({ idleSeconds: stallMs / 1000 }, 'status stream cut: the subscriber read nothing'),
    });
    stream.send(frame(deps.status(), admin));
    const unsubscribe = deps.hub.subscribe((doc) => stream.send(frame(doc, admin)));
    const end = () => {
      unsubscribe();
      stream.close();
      streams.delete(end);
      if (!res.writableEnded) res.end();
    };
    streams.add(end);
    res.once('close', end);
    request.log.debug('status stream opened');
  });

  app.post<{ Params: { id: string }; Querystring: { wait: boolean } }>(
    '/gateway/models/:id/load',
    { schema: { querystring: flags({ wait: true }) } },
    async (request, reply) => {
      if (!request.query.wait) return reply.code(202).send(actions.loadInBackground(request.params.id));
      return actions.load(request.params.id);
    },
  );

  app.post<{ Params: { id: string }; Querystring: { force: boolean } }>(
    '/gateway/models/:id/unload',
    { schema: { querystring: flags({ force: false }) } },
    async (request) => actions.unload(request.params.id, { force: request.query.force }),
  );

  app.post<{ Params: { id: string } }>('/gateway/models/:id/sleep', async (request) => actions.sleep(request.params.id));

  app.get<{ Params: { id: string }; Querystring: { tail: number } }>(
    '/gateway/models/:id/logs',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { tail: { type: 'integer', minimum: 1, maximum: MAX_LOG_TAIL, default: DEFAULT_LOG_TAIL } },
        },
      },
    },
    async (request, reply) => {
      const full = await actions.logs(request.params.id, request.query.tail);
      // The server's output carries its command line and vLLM's "non-default args" (--api-key …).
      const text = request.gatewayAdmin ? full : deps.redact(full);
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );

  app.get('/metrics', async (_req, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
}
