// At gateway start (P14): adopt the running containers of this prefix whose model and config hash
// still match, remove the prefix's other managed containers, never touch another prefix's.

import type Dockerode from 'dockerode';
import { engineMessage, isNotFound, isRemovalInProgress, startError } from './docker-errors.js';
import { parseGpuLabel, publishedPort } from './docker-inspect.js';
import type { DockerInstanceInit } from './docker-instance.js';
import { LABEL_CONFIG_HASH, LABEL_GPUS, LABEL_MANAGED, LABEL_MODEL, LABEL_PREFIX, modelConfigHash } from './docker-naming.js';
import { utilizationOfFound, type Instance, type ReconcileModel, type RuntimeLogger } from './runtime.js';

export interface ReconcileContext {
  docker: Dockerode;
  logger: RuntimeLogger;
  where: string;
  prefix: string;
  /** The remote host whose engine this is (part of the config hash); absent for this machine's. */
  host?: string;
  /** True for a container this runtime started itself (left alone). */
  isTracked(containerId: string): boolean;
  /** Tracks a running container as this model's instance, reachable on `hostPort` (of the engine's machine). */
  adopt(init: DockerInstanceInit, hostPort: number): Promise<Instance>;
}

export async function reconcileContainers(ctx: ReconcileContext, models: ReconcileModel[]): Promise<Map<string, Instance>> {
  // model id → its config hash on the GPUs a container was given (gpus: auto may have put it on any).
  const wanted = new Map<string, (gpus: number[] | null) => string>();
  for (const m of models) {
    const model = m.model;
    if (model.runtime !== 'docker') continue;
    wanted.set(model.id, (gpus) => modelConfigHash(model, utilizationOfFound(m, gpus), ctx.host));
  }
  let list: Dockerode.ContainerInfo[];
  try {
    list = await ctx.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_PREFIX}=${ctx.prefix}`] },
    });
  } catch (err) {
    throw startError(err, { modelId: '(reconcile)', where: ctx.where, what: 'listing containers' });
  }
  const adopted = new Map<string, Instance>();
  for (const c of list) {
    const labels = c.Labels ?? {};
    if (labels[LABEL_PREFIX] !== ctx.prefix) continue; // never another prefix's
    if (ctx.isTracked(c.Id)) continue;
    const modelId = labels[LABEL_MODEL];
    const name = (c.Names?.[0] ?? c.Id).replace(/^\//, '');
    const hashOf = modelId !== undefined ? wanted.get(modelId) : undefined;
    const hashOk = hashOf !== undefined && hashOf(parseGpuLabel(labels[LABEL_GPUS])) === labels[LABEL_CONFIG_HASH];
    if (hashOk && c.State === 'running' && !adopted.has(modelId)) {
      try {
        const info = await ctx.docker.getContainer(c.Id).inspect();
        const port = publishedPort(info, undefined);
        if (info.State.Running && port) {
          const init = {
            id: c.Id,
            name,
            modelId,
            configHash: labels[LABEL_CONFIG_HASH],
            gpuIndices: parseGpuLabel(labels[LABEL_GPUS]),
          };
          const inst = await ctx.adopt(init, port);
          adopted.set(modelId, inst);
          ctx.logger.info({ model: modelId, container: name, endpoint: inst.endpoint }, 'adopted running container');
          continue;
        }
      } catch (err) {
        if (!isNotFound(err)) ctx.logger.warn({ container: name, err: engineMessage(err) }, 'could not inspect container');
      }
    }
    const why =
      !modelId || !wanted.has(modelId)
        ? 'model no longer configured'
        : !hashOk
          ? 'config changed'
          : c.State !== 'running'
            ? `state ${c.State}`
            : 'duplicate';
    ctx.logger.info({ model: modelId, container: name, why }, 'removing leftover container');
    try {
      await ctx.docker.getContainer(c.Id).remove({ force: true, v: true });
    } catch (err) {
      if (!isNotFound(err) && !isRemovalInProgress(err)) {
        ctx.logger.warn({ container: name, err: engineMessage(err) }, 'could not remove leftover container');
      }
    }
  }
  return adopted;
}
