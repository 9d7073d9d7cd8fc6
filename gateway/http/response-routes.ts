// GET /v1/responses/{id} and POST /v1/responses/{id}/cancel (docs/http-api.md): they name no model,
// and a stored response lives in the memory of the one server that made it (vLLM's response_store,
// vllm/entrypoints/openai/responses/serving.py). The gateway learns id → model and server instance
// from each POST /v1/responses answer (response-id-tap.ts) and sends these requests there, or
// answers 404 itself when it does not know the id or that server has stopped since.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { errors, type GatewayError } from '../errors.js';
import { ResponseIdTap } from '../proxy/response-id-tap.js';
import type { ModelEntry } from '../scheduler/model-entry.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { fromFastify, upstreamPath, type Proxy } from './proxy-routes.js';
import { shown } from './body-model.js';

/** Ids remembered, the least recently used dropped first. */
export const RESPONSE_IDS_KEPT = 10_000;

interface Owner {
  model: string;
  /** The server instance that made it (instanceKey); 0 for a remote model, which has none. */
  instance: number;
}

const instanceKeys = new WeakMap<object, number>();
let nextInstanceKey = 1;

/** A number for each server instance, without keeping the instance (and its logs) alive. */
function instanceKey(entry: ModelEntry): number {
  const inst = entry.instance;
  if (inst === null) return 0;
  let k = instanceKeys.get(inst);
  if (k === undefined) {
    k = nextInstanceKey++;
    instanceKeys.set(inst, k);
  }
  return k;
}

/** id → the model and server instance that made it. */
export class ResponseIds {
  private readonly owners: LRUCache<string, Owner>;

  constructor(max = RESPONSE_IDS_KEPT) {
    this.owners = new LRUCache<string, Owner>({ max });
  }

  /** A tap for one POST /v1/responses answer of `entry`: remembers the id as soon as it passes. */
  tapFor(entry: ModelEntry): ResponseIdTap {
    return new ResponseIdTap((id) => this.owners.set(id, { model: entry.id, instance: instanceKey(entry) }));
  }

  /** The model whose running server made `id`, or why there is none. */
  ownerOf(id: string, scheduler: Scheduler): { entry: ModelEntry } | { error: GatewayError } {
    const owner = this.owners.get(id);
    const entry = owner ? scheduler.entries.get(owner.model) : undefined;
    if (!owner || !entry) {
      return {
        error: errors.unknownResponseId(shown(id), RESPONSE_IDS_KEPT),
      };
    }
    const remote = entry.config.runtime === 'remote';
    if (!remote && (entry.instance === null || instanceKey(entry) !== owner.instance)) {
      return {
        error: errors.responseServerGone(shown(id), entry.id),
      };
    }
    return { entry };
  }

  get size(): number {
    return this.owners.size;
  }
}

export function registerResponseRoutes(app: FastifyInstance, deps: { scheduler: Scheduler; proxy: Proxy; ids: ResponseIds }): void {
  const handle = (suffix: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const id = (request.params as { id: string }).id;
    const found = deps.ids.ownerOf(id, deps.scheduler);
    if ('error' in found) throw found.error;
    const body = request.body as Buffer | undefined;
    await deps.proxy(fromFastify(request, reply), {
      entry: found.entry,
      path: upstreamPath(`/v1/responses/${encodeURIComponent(id)}${suffix}`, request.url),
      body: body ?? Buffer.alloc(0),
    });
  };
  app.get('/v1/responses/:id', handle(''));
  app.post('/v1/responses/:id/cancel', handle('/cancel'));
}
