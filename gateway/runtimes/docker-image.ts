// Making a model's image present before its container is created (`docker.pull`: never | missing |
// always), with pull progress for the status document. The Engine API never pulls on create (P16).

import type Dockerode from 'dockerode';
import type { DockerModelConfig } from '../config/types.js';
import { errors, GatewayError } from '../errors.js';
import { engineMessage, imageMissingError, isNotFound, pullError, startError } from './docker-errors.js';
import { JsonLineSplitter, PullProgressTracker, type PullMessage } from './docker-pull-progress.js';
import type { RuntimeLogger, StartRequest } from './runtime.js';

export interface ImageContext {
  docker: Dockerode;
  logger: RuntimeLogger;
  /** The engine's address, for messages. */
  where: string;
  policy: 'never' | 'missing' | 'always';
  /** Minimum interval between two progress reports. */
  progressIntervalMs: number;
}

/** Why a start was abandoned, as the start's error. */
export function abortError(modelId: string, signal: AbortSignal): GatewayError {
  const why = signal.reason instanceof Error ? signal.reason.message : signal.reason ? String(signal.reason) : 'abandoned';
  return errors.startAbandoned(modelId, why, { cause: signal.reason });
}

export async function ensureImage(ctx: ImageContext, model: DockerModelConfig, req: StartRequest): Promise<void> {
  if (ctx.policy === 'never') {
    if (!(await imageExists(ctx, model))) throw imageMissingError(model.id, model.image);
    return;
  }
  if (ctx.policy === 'missing' && (await imageExists(ctx, model))) return;
  try {
    await pull(ctx, model, req);
  } catch (err) {
    if (ctx.policy === 'always' && !(err instanceof GatewayError && req.signal.aborted)) {
      const present = await imageExists(ctx, model).catch(() => false);
      if (present) {
        ctx.logger.warn({ model: model.id, image: model.image, err: engineMessage(err) }, 'pull failed; using the local image');
        return;
      }
    }
    throw err;
  }
}

async function imageExists(ctx: ImageContext, model: DockerModelConfig): Promise<boolean> {
  try {
    await ctx.docker.getImage(model.image).inspect();
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw startError(err, { modelId: model.id, where: ctx.where, what: `looking for image ${model.image}` });
  }
}

async function pull(ctx: ImageContext, model: DockerModelConfig, req: StartRequest): Promise<void> {
  req.onPhase('pulling');
  const tracker = new PullProgressTracker(model.image);
  req.onProgress(tracker.progress());
  let lastReport = 0;
  let lastPercent: number | null = null;
  const report = (force = false) => {
    const p = tracker.progress();
    const now = Date.now();
    if (force || (p.percent !== lastPercent && now - lastReport >= ctx.progressIntervalMs)) {
      lastReport = now;
      lastPercent = p.percent;
      req.onProgress(p);
    }
  };
  let stream: NodeJS.ReadableStream;
  try {
    stream = (await ctx.docker.pull(model.image, { abortSignal: req.signal } as object)) as NodeJS.ReadableStream;
  } catch (err) {
    if (req.signal.aborted) throw abortError(model.id, req.signal);
    throw pullError(model.id, model.image, err, ctx.where);
  }
  await new Promise<void>((resolve, reject) => {
    const splitter = new JsonLineSplitter();
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      req.signal.removeEventListener('abort', onAbort);
      for (const m of splitter.end()) tracker.update(m as PullMessage);
      if (err) reject(err);
      else if (tracker.failed) reject(pullError(model.id, model.image, new Error(tracker.failed), ctx.where));
      else resolve();
    };
    const onAbort = () => {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      finish(abortError(model.id, req.signal));
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (chunk: Buffer) => {
      for (const m of splitter.push(chunk)) tracker.update(m as PullMessage);
      report();
    });
    stream.on('end', () => finish());
    stream.on('close', () => finish());
    stream.on('error', (err: unknown) =>
      finish(req.signal.aborted ? abortError(model.id, req.signal) : pullError(model.id, model.image, err, ctx.where)),
    );
  });
  tracker.finish();
  report(true);
  if (!(await imageExists(ctx, model))) {
    throw errors.pulledImageMissing(model.id, model.image);
  }
}
