// A stand-in for the gateway's HTTP surface, enough to drive the dashboard at /ui: the real
// registerUi() serving dist/renderer, GET /gateway/status, SSE /gateway/events, POST load/unload
// with the admin token and 409 model_busy, and logs. Models change state on timers.
import Fastify, { type FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { registerUi } from '../../gateway/http/ui-route.js';
import type { ModelStatus, StatusDocument } from '../../gateway/status-types.js';
import { recomputeGpus, sampleHistory, sampleStatus } from './sample-status.js';

export interface FakeGatewayOptions {
  distDir: string;
  doc?: StatusDocument;
  adminToken?: string;
  /** How long a load takes (ms). */
  startMs?: number;
  /** Models whose load fails with this message. */
  failOnLoad?: Record<string, string>;
}

export interface FakeGateway {
  url: string;
  adminToken: string;
  app: FastifyInstance;
  doc(): StatusDocument;
  /** Mutates the document and pushes it to every SSE client. */
  update(fn: (doc: StatusDocument) => void): void;
  calls: Array<{ method: string; url: string; auth: string | null }>;
  close(): Promise<void>;
}

function err(code: string, type: string, message: string) {
  return { error: { message, type, code, param: null } };
}

export async function startFakeGateway(opts: FakeGatewayOptions): Promise<FakeGateway> {
  const adminToken = opts.adminToken ?? 'test-admin-token-0123456789';
  const startMs = opts.startMs ?? 1200;
  const doc = opts.doc ?? sampleStatus();
  const clients = new Set<ServerResponse>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const calls: FakeGateway['calls'] = [];
  const app = Fastify({ logger: false });

  const push = () => {
    const frame = `event: status\ndata: ${JSON.stringify(doc)}\n\n`;
    for (const res of clients) res.write(frame);
  };
  const update = (fn: (d: StatusDocument) => void) => {
    fn(doc);
    recomputeGpus(doc);
    push();
  };
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const heartbeat = setInterval(push, 5000);
  const find = (id: string): ModelStatus | undefined => doc.models.find((m) => m.id === id);

  app.addHook('onRequest', async (req) => {
    calls.push({
      method: req.method,
      url: req.url,
      auth: req.headers.authorization ?? null,
    });
  });

  app.setErrorHandler((error: Error & { status?: number; code?: string; type?: string }, _req, reply) => {
    const status = error.status ?? 500;
    void reply.code(status).send(err(error.code ?? 'internal_error', error.type ?? 'server_error', error.message));
  });

  await registerUi(app, { distDir: opts.distDir });

  app.get('/gateway/status', async () => doc);
  app.get('/gateway/history', async () => sampleHistory());

  app.get('/gateway/events', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    });
    res.write(`event: status\ndata: ${JSON.stringify(doc)}\n\n`);
    clients.add(res);
    req.raw.on('close', () => clients.delete(res));
  });

  const checkAdmin = (auth: string | undefined) => auth === `Bearer ${adminToken}`;

  app.post<{ Params: { id: string } }>('/gateway/models/:id/load', async (req, reply) => {
    if (!checkAdmin(req.headers.authorization))
      return reply.code(401).send(err('invalid_admin_token', 'authentication_error', 'Missing or wrong admin token.'));
    const m = find(req.params.id);
    if (!m) return reply.code(404).send(err('model_not_found', 'invalid_request_error', `Unknown model ${req.params.id}.`));
    if (m.state === 'ready') return m;
    update(() => {
      m.state = 'starting';
      m.stateSince = new Date().toISOString();
      m.error = null;
      m.progress = {
        phase: 'loading',
        percent: null,
        message: 'Starting vLLM server',
      };
      if (m.gpus.length === 0) m.gpus = [0];
    });
    return new Promise((resolve) => {
      later(startMs, () => {
        const failure = opts.failOnLoad?.[m.id];
        update((d) => {
          m.stateSince = new Date().toISOString();
          m.progress = null;
          if (failure) {
            m.state = 'failed';
            m.error = failure;
            return;
          }
          m.state = 'ready';
          m.endpoint = 'http://127.0.0.1:49999';
          m.vramUsedMiB = Math.round((m.vramBudgetMiB ?? 0) * 0.97);
          const g = d.gpus.find((x) => x.index === m.gpus[0]);
          if (g && !g.models.some((x) => x.id === m.id)) g.models.push({ id: m.id, usedMiB: m.vramUsedMiB });
        });
        if (failure) resolve(reply.code(503).send(err('model_start_failed', 'server_error', failure)));
        else resolve(m);
      });
    });
  });

  app.post<{ Params: { id: string }; Querystring: { force?: string } }>('/gateway/models/:id/unload', async (req, reply) => {
    if (!checkAdmin(req.headers.authorization))
      return reply.code(401).send(err('invalid_admin_token', 'authentication_error', 'Missing or wrong admin token.'));
    const m = find(req.params.id);
    if (!m) return reply.code(404).send(err('model_not_found', 'invalid_request_error', `Unknown model ${req.params.id}.`));
    const force = req.query.force === 'true';
    if (!force && m.inFlight + m.queued > 0) {
      return reply
        .code(409)
        .send(
          err(
            'model_busy',
            'invalid_request_error',
            `${m.id} has ${m.inFlight} requests in flight and ${m.queued} queued; unload with force=true to end them.`,
          ),
        );
    }
    update(() => {
      m.state = 'stopping';
      m.stateSince = new Date().toISOString();
      m.inFlight = 0;
      m.queued = 0;
    });
    await new Promise<void>((r) => later(300, r));
    update((d) => {
      m.state = 'stopped';
      m.stateSince = new Date().toISOString();
      m.vramUsedMiB = null;
      m.endpoint = null;
      m.lastUsedAt = new Date().toISOString();
      for (const g of d.gpus) g.models = g.models.filter((x) => x.id !== m.id);
    });
    return m;
  });

  app.get<{ Params: { id: string }; Querystring: { tail?: string } }>('/gateway/models/:id/logs', async (req, reply) => {
    const m = find(req.params.id);
    if (!m) return reply.code(404).send(err('model_not_found', 'invalid_request_error', `Unknown model ${req.params.id}.`));
    const lines = [
      `INFO 11-27 12:00:01 [api_server.py:1024] vLLM API server version 0.11.0`,
      `INFO 11-27 12:00:01 [api_server.py:1025] args: model='${m.id}', served_model_name=['${m.id}'], port=8000`,
      `INFO 11-27 12:00:09 [model_runner.py:1098] Loading model weights took 14.99 GiB`,
      `INFO 11-27 12:00:14 [gpu_executor.py:122] # GPU blocks: 12541, # CPU blocks: 2048`,
      `INFO 11-27 12:00:18 [launcher.py:28] Available routes are: /health, /v1/models, /v1/chat/completions`,
      `INFO:     Started server process [1]`,
      `INFO:     Application startup complete.`,
      `INFO:     127.0.0.1:51234 - "POST /v1/chat/completions HTTP/1.1" 200 OK`,
      ...(m.error ? m.error.split('\n') : []),
    ];
    const tail = Math.max(1, Number(req.query.tail ?? 200) || 200);
    return reply.type('text/plain; charset=utf-8').send(lines.slice(-tail).join('\n') + '\n');
  });

  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    adminToken,
    app,
    doc: () => doc,
    update,
    calls,
    async close() {
      clearInterval(heartbeat);
      for (const t of timers) clearTimeout(t);
      for (const res of clients) res.end();
      clients.clear();
      await app.close();
    },
  };
}

export function replaceDoc(g: FakeGateway, next: StatusDocument): void {
  g.update((d) => Object.assign(d, next));
}
