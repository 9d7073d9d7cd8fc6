// Ollama's API (docs/http-api.md "Ollama-compatible routes") for the tools that speak only Ollama: each
// inference request is translated (to-openai.ts), sent through the same proxy as the OpenAI routes
// (admission, queue, turns, retries, logs, metrics) and its answer translated back on the way
// (ollama-transforms.ts). Model listing routes are answered from the config and the live state.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { errors, GatewayError } from '../errors.js';
import { fromFastify, type Proxy } from '../http/proxy-routes.js';
import { GO_MAX_DURATION_SECONDS } from '../scheduler/idle-policy.js';
import { Cancel } from '../proxy/cancel.js';
import { createPriorityOf } from '../http/request-priority.js';
import type { ModelEntry } from '../scheduler/model-entry.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { StatusDocument } from '../status-types.js';
import type { Timings } from './from-openai.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';
import { parseKeepAlive, type KeepAlive } from './keep-alive.js';
import { namesToTry, OLLAMA_API_VERSION, psEntry, showEntry, tagEntry } from './model-info.js';
import { ollamaBadRequest, ollamaModelNotFound, ollamaPullNotConfigured } from './ollama-errors.js';
import { EmbeddingTransform, GenerationTransform, NDJSON } from './ollama-transforms.js';
import { chatToOpenAi, embedToOpenAi, generateToOpenAi, readThink, wantsStream, type OpenAiCall } from './to-openai.js';

type Json = Record<string, unknown>;

export interface OllamaDeps {
  scheduler: Scheduler;
  /** Its sourcePath: where a model to pull would have to be added; auth and scheduling for a load's class. */
  config: { sourcePath: string | null } & Parameters<typeof createPriorityOf>[0];
  proxy: Proxy;
  status(): StatusDocument;
  /** When the gateway loaded its config: the models' modified_at. */
  loadedAt: Date;
  /** True for a request that came in on listen.ollamaPort (it also answers GET /). */
  onOllamaPort(socket: Socket): boolean;
}

/** Ollama's paths that manage a model store: the gateway's models are its config. */
const STORE_PATHS: Array<[method: 'POST' | 'DELETE' | 'HEAD', path: string]> = [
  ['POST', '/api/create'],
  ['POST', '/api/push'],
  ['POST', '/api/copy'],
  ['DELETE', '/api/delete'],
  ['POST', '/api/delete'],
  ['POST', '/api/blobs/:digest'],
  ['HEAD', '/api/blobs/:digest'],
];

const monotonic = () => performance.now();

function readJson(request: FastifyRequest): Json {
  const body = request.body as Buffer | undefined;
  if (!body || body.length === 0) throw ollamaBadRequest('missing request body');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw errors.ollamaInvalidJson((err as Error).message, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw ollamaBadRequest('the request body must be a JSON object');
  if (nestsDeeperThan(parsed, MAX_JSON_DEPTH)) {
    throw ollamaBadRequest(`the request body is nested too deeply (more than ${MAX_JSON_DEPTH} levels of objects and arrays)`);
  }
  return parsed as Json;
}

export function registerOllamaRoutes(app: FastifyInstance, deps: OllamaDeps): void {
  const { scheduler } = deps;
  const priorityOf = createPriorityOf(deps.config);

  /** The model a body names (`model`, or the older `name`); 400 without one, 404 when not configured. */
  const named = (body: Json): { entry: ModelEntry; name: string } => {
    const name = typeof body.model === 'string' && body.model !== '' ? body.model : body.name;
    if (typeof name !== 'string' || name === '') throw errors.ollamaModelRequired();
    for (const n of namesToTry(name)) {
      const entry = scheduler.resolve(n);
      if (entry) return { entry, name };
    }
    throw ollamaModelNotFound(name);
  };

  /** ISO expiry for /api/ps: the idle deadline; busy: ttl from now; never: far ahead. */
  const expiresAt = (entry: ModelEntry): Date => {
    const deadline = entry.idleDeadline;
    if (deadline !== null) return new Date(deadline);
    const ttl = entry.idleTtlSeconds;
    // Kept loaded: about 292 years ahead, as Ollama shows it (time.Now().Add(math.MaxInt64)).
    return new Date(Date.now() + (ttl === Infinity ? GO_MAX_DURATION_SECONDS : ttl) * 1000);
  };

  app.get('/', (request, reply) => {
    if (!deps.onOllamaPort(request.raw.socket)) return reply.callNotFound();
    return reply.type('text/plain; charset=utf-8').send('Ollama is running');
  });

  app.get('/api/version', async () => ({ version: OLLAMA_API_VERSION }));

  app.get('/api/tags', async () => ({ models: [...scheduler.entries.values()].map((e) => tagEntry(e.config, deps.loadedAt)) }));

  app.get('/api/ps', async () => {
    const used = new Map(deps.status().models.map((m) => [m.id, m.vramUsedMiB]));
    const loaded = [...scheduler.entries.values()].filter(
      (e) => e.config.runtime !== 'remote' && ['ready', 'starting', 'waking'].includes(e.state as string),
    );
    const models = loaded.map((e) => psEntry(e.config, used.get(e.id) ?? null, expiresAt(e)));
    // Longest time left first, as Ollama lists them.
    models.sort((a, b) => Date.parse(b.expires_at as string) - Date.parse(a.expires_at as string));
    return { models };
  });

  app.post('/api/show', async (request) => showEntry(named(readJson(request)).entry.config, deps.loadedAt));

  // A configured model is there already: nothing to download.
  app.post('/api/pull', async (request, reply) => {
    const body = readJson(request);
    try {
      named(body);
    } catch (err) {
      const name = typeof body.model === 'string' && body.model !== '' ? body.model : body.name;
      if (err instanceof GatewayError && err.code === 'model_not_found' && typeof name === 'string')
        throw ollamaPullNotConfigured(name, deps.config.sourcePath);
      throw err;
    }
    if (!wantsStream(body)) return { status: 'success' };
    return reply.type(NDJSON).send(`${JSON.stringify({ status: 'success' })}\n`);
  });

  for (const [method, path] of STORE_PATHS) {
    app.route({
      method,
      url: path,
      handler: async () => {
        throw errors.ollamaNotSupported(path.replace('/:digest', ''));
      },
    });
  }

  /**
   * Loads (or, with keep_alive 0, unloads) without generating or embedding anything. A client that
   * leaves while the model starts is dropped like a queued request: its load stops waiting.
   */
  const loadOrUnload = async (entry: ModelEntry, keepAlive: KeepAlive, reply: FastifyReply): Promise<'load' | 'unload'> => {
    // Classed as a generating request is (a bad X-Priority: 400 invalid_request); these bypass the
    // proxy, which reads it for the others. A batch load waits for memory as batch requests do.
    const priority = priorityOf(reply.request.headers);
    if (keepAlive === 0) {
      // Stops it once nothing is in flight (a pinned model stays); a model with no server has
      // nothing to unload, and must not start its next server with keep_alive 0.
      if (entry.state !== 'stopped' && entry.state !== 'failed') scheduler.setKeepAlive(entry, 0);
      return 'unload';
    }
    const gone = new Cancel();
    const onClose = () => {
      if (!reply.raw.writableEnded) gone.abort();
    };
    reply.raw.once('close', onClose);
    try {
      await scheduler.load(entry, gone, priority);
    } finally {
      reply.raw.removeListener('close', onClose);
    }
    if (keepAlive !== null) scheduler.setKeepAlive(entry, keepAlive);
    return 'load';
  };

  /** An empty prompt or message list: the model is loaded or unloaded, nothing generated. */
  const loadOnly = async (kind: 'chat' | 'generate', entry: ModelEntry, name: string, keepAlive: KeepAlive, reply: FastifyReply) => {
    const done_reason = await loadOrUnload(entry, keepAlive, reply);
    return {
      model: name,
      created_at: new Date().toISOString(),
      ...(kind === 'chat' ? { message: { role: 'assistant', content: '' } } : { response: '' }),
      done: true,
      done_reason,
    };
  };

  const generation = (kind: 'chat' | 'generate') => async (request: FastifyRequest, reply: FastifyReply) => {
    const startedMs = monotonic();
    const body = readJson(request);
    const { entry, name } = named(body);
    const keepAlive = parseKeepAlive(body.keep_alive);
    const think = readThink(body.think);
    const empty =
      kind === 'chat'
        ? body.messages === undefined || body.messages === null || (Array.isArray(body.messages) && body.messages.length === 0)
        : (body.prompt === undefined || body.prompt === '') && !(Array.isArray(body.images) && body.images.length > 0);
    if (empty) return reply.type('application/json; charset=utf-8').send(await loadOnly(kind, entry, name, keepAlive, reply));
    const call = kind === 'chat' ? chatToOpenAi(body, entry.id, think) : generateToOpenAi(body, entry.id, think);
    const timings: Timings = { startedMs, admittedMs: null };
    const transform = new GenerationTransform(
      { kind, model: name, thinking: think !== false, timings, now: monotonic, date: () => new Date() },
      wantsStream(body),
    );
    await send(request, reply, entry, call, keepAlive, timings, transform);
  };

  const embedding = (legacy: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    const startedMs = monotonic();
    const body = readJson(request);
    const { entry, name } = named(body);
    const keepAlive = parseKeepAlive(body.keep_alive);
    // No input (absent, "" or []): Ollama loads the model and answers no vectors (server/routes.go
    // EmbedHandler, EmbeddingsHandler); clients preload an embedding model this way.
    const input = legacy ? body.prompt : body.input;
    if (input === undefined || input === null || input === '' || (Array.isArray(input) && input.length === 0)) {
      await loadOrUnload(entry, keepAlive, reply);
      return reply.type('application/json; charset=utf-8').send(legacy ? { embedding: [] } : { model: name, embeddings: [] });
    }
    const call = embedToOpenAi(body, entry.id, legacy);
    const dimensions = typeof body.dimensions === 'number' && body.dimensions > 0 ? Math.floor(body.dimensions) : null;
    const timings: Timings = { startedMs, admittedMs: null };
    const transform = new EmbeddingTransform({ model: name, legacy, dimensions, timings, now: monotonic });
    await send(request, reply, entry, call, keepAlive, timings, transform);
  };

  async function send(
    request: FastifyRequest,
    reply: FastifyReply,
    entry: ModelEntry,
    call: OpenAiCall,
    keepAlive: KeepAlive,
    timings: Timings,
    transform: GenerationTransform | EmbeddingTransform,
  ): Promise<void> {
    await deps.proxy(fromFastify(request, reply), {
      entry,
      path: call.path,
      body: Buffer.from(JSON.stringify(call.body)),
      // The translation reads the bytes: no compression, and the client's own content type is irrelevant.
      headers: { ...request.headers, 'content-type': 'application/json', accept: 'application/json', 'accept-encoding': 'identity' },
      transform,
      keepAlive,
      onAdmitted: () => (timings.admittedMs = monotonic()),
    });
  }

  app.post('/api/chat', generation('chat'));
  app.post('/api/generate', generation('generate'));
  app.post('/api/embed', embedding(false));
  app.post('/api/embeddings', embedding(true));
}
