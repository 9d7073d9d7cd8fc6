// `runtime: docker`: vLLM servers as containers, through dockerode (docs/docker.md). The scheduler
// owns the model's state; this runtime only makes containers exist or not, and says as soon as one
// is gone (Docker events, `wait`, and a re-check after the daemon comes back).

import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import Dockerode from 'dockerode';
import type { DockerModelConfig } from '../config/types.js';
import { errors, type GatewayError } from '../errors.js';
import { dockerConnection, type DockerConfig } from './docker-connection.js';
import { engineMessage, healthReason, isNameConflict, isNotFound, isRemovalInProgress, startError } from './docker-errors.js';
import { DockerEventFollower, type DockerEvent } from './docker-events.js';
import { abortError, ensureImage } from './docker-image.js';
import { exitInfoFromState, publishedPort, type ContainerState } from './docker-inspect.js';
import { DockerInstance, type DockerInstanceHost } from './docker-instance.js';
import { LABEL_MANAGED, LABEL_PREFIX } from './docker-naming.js';
import { reconcileContainers } from './docker-reconcile.js';
import { buildContainerSpec, type ContainerSpec, type SpecOptions } from './docker-spec.js';
import { startFailureError } from './start-failure.js';
import { silentLogger } from '../logger.js';
import type { Instance, ReconcileModel, Runtime, RuntimeHealth, RuntimeLogger, StartRequest } from './runtime.js';

export { dockerConnection, type DockerConfig } from './docker-connection.js';
export { demuxDockerLogs } from './docker-logs.js';
export { exitInfoFromState } from './docker-inspect.js';

export interface DockerRuntimeOptions {
  logger?: RuntimeLogger;
  /** An existing client (tests); otherwise one is made from the config. */
  docker?: Dockerode;
  /** Shared memory: "host" (`--ipc=host`, default) or a /dev/shm size in bytes. */
  shm?: SpecOptions['shm'];
  /** Lines of output kept per container, so that logs survive its removal. Default 2000. */
  keepLogLines?: number;
  /** Event-stream reconnect backoff. */
  eventsInitialDelayMs?: number;
  eventsMaxDelayMs?: number;
  /** Minimum interval between two pull progress reports (ms). Default 250. */
  progressIntervalMs?: number;
  /**
   * The base URL that reaches a port the engine published on its machine's 127.0.0.1. Default:
   * `http://127.0.0.1:PORT` (the engine is on this machine); a remote host forwards it through its
   * ssh connection (gateway/hosts/ssh-host.ts).
   */
  endpointFor?: (hostPort: number) => Promise<string>;
  /** Called when a container published on `hostPort` is gone (a remote host closes that forward). */
  releasePort?: (hostPort: number) => void;
  /** Where messages name the engine (default: from the config). */
  where?: string;
  /** The remote host (docs/hosts.md) this engine is on; absent for this machine's. */
  host?: string;
}

export class DockerRuntime implements Runtime, DockerInstanceHost {
  readonly kind = 'docker' as const;
  readonly docker: Dockerode;
  readonly logger: RuntimeLogger;
  readonly keepLogLines: number;
  readonly where: string;
  private readonly byId = new Map<string, DockerInstance>();
  private readonly starts = new Map<string, Promise<unknown>>();
  private readonly events: DockerEventFollower;
  private readonly closeController = new AbortController();
  private closed = false;

  constructor(
    private readonly config: DockerConfig,
    private readonly opts: DockerRuntimeOptions = {},
  ) {
    if (opts.docker && opts.where) {
      this.where = opts.where;
      this.docker = opts.docker;
    } else {
      const conn = dockerConnection(config);
      this.where = opts.where ?? conn.where;
      this.docker = opts.docker ?? new Dockerode(conn.options);
    }
    this.logger = opts.logger ?? silentLogger;
    this.keepLogLines = opts.keepLogLines ?? 2000;
    this.events = new DockerEventFollower(this.docker, {
      labels: [`${LABEL_PREFIX}=${config.containerPrefix}`],
      initialDelayMs: opts.eventsInitialDelayMs,
      maxDelayMs: opts.eventsMaxDelayMs,
      onEvent: (ev) => this.onEvent(ev),
      onConnected: (reconnect) => {
        if (reconnect) {
          this.logger.info({ where: this.where }, 'Docker event stream reconnected; re-checking containers');
        }
        // Whatever happened while we were not listening: inspect every live container.
        for (const inst of this.byId.values()) void inst.refresh();
      },
      onDisconnected: (err) => {
        this.logger.debug({ err: engineMessage(err) }, 'Docker event stream disconnected');
      },
    });
  }

  /** Event-stream diagnostics (tests): whether it is connected, and how often it reconnected. */
  get eventStream(): { connected: boolean; reconnects: number } {
    return { connected: this.events.connected, reconnects: this.events.reconnects };
  }

  forget(inst: DockerInstance): void {
    if (this.byId.get(inst.id) === inst) this.byId.delete(inst.id);
  }

  private track(inst: DockerInstance): void {
    this.byId.set(inst.id, inst);
    if (!this.closed) this.events.start();
    // A second witness besides events: resolves when the container stops running.
    inst.container
      .wait({ condition: 'not-running', abortSignal: this.closeController.signal } as object)
      .then(() => inst.refresh())
      .catch(() => undefined);
  }

  private onEvent(ev: DockerEvent): void {
    const id = ev.Actor?.ID ?? ev.id;
    const action = ev.Action ?? ev.status ?? '';
    if (!id) return;
    const inst = this.byId.get(id);
    if (!inst) return;
    if (action === 'oom') inst.noteOom(); // a "die" follows; OOMKilled is also in the inspect
    if (action === 'die' || action === 'destroy' || action === 'oom' || action === 'stop') void inst.refresh();
  }

  async health(): Promise<RuntimeHealth> {
    try {
      await (this.docker.ping as (opts: object) => Promise<unknown>).call(this.docker, { abortSignal: AbortSignal.timeout(5000) });
      return { ok: true, reason: null };
    } catch (err) {
      if ((err as { name?: string }).name === 'AbortError' || (err as { name?: string }).name === 'TimeoutError') {
        return { ok: false, reason: `Docker is not answering on ${this.where} (no reply within 5 s)` };
      }
      return { ok: false, reason: healthReason(err, this.where) };
    }
  }

  start(req: StartRequest): Promise<Instance> {
    const model = req.model;
    if (model.runtime !== 'docker') {
      return Promise.reject(errors.notADockerModel(model.id));
    }
    // Serialised per model: a second start waits for the first and then finds its container.
    const previous = this.starts.get(model.id) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.startNow(model, req));
    const tail = run.catch(() => undefined);
    this.starts.set(model.id, tail);
    void tail.then(() => {
      if (this.starts.get(model.id) === tail) this.starts.delete(model.id);
    });
    return run;
  }

  private liveInstanceOf(modelId: string): DockerInstance | undefined {
    for (const inst of this.byId.values()) if (inst.modelId === modelId && inst.live) return inst;
    return undefined;
  }

  private async startNow(model: DockerModelConfig, req: StartRequest): Promise<Instance> {
    const spec = buildContainerSpec({ model, gpuIndices: req.gpuIndices, gpuMemoryUtilization: req.gpuMemoryUtilization }, this.config, {
      shm: this.opts.shm,
      host: this.opts.host,
    });
    const existing = this.liveInstanceOf(model.id);
    if (existing && existing.configHash === spec.configHash) return existing;
    if (req.signal.aborted) throw abortError(model.id, req.signal);
    if (this.closed) throw errors.runtimeClosed(model.id);
    const ctx = { modelId: model.id, where: this.where };
    const host = this.opts.host;

    await ensureImage(
      {
        docker: this.docker,
        logger: this.logger,
        where: this.where,
        policy: this.config.pull,
        progressIntervalMs: this.opts.progressIntervalMs ?? 250,
      },
      model,
      // On a remote host the pull happens there (its own image store): the progress says where.
      host && host !== 'local' ? { ...req, onProgress: (p) => req.onProgress({ ...p, message: `${p.message} (on ${host})` }) } : req,
    );
    if (req.signal.aborted) throw abortError(model.id, req.signal);
    req.onPhase('starting');

    await this.removeStale(spec, model.id);
    await mkdir(this.config.hfCacheDir, { recursive: true }).catch(() => undefined);

    let container: Dockerode.Container;
    try {
      container = await this.createWithConflictRetry(spec, model.id);
    } catch (err) {
      throw startError(err, { ...ctx, what: 'creating the container' });
    }
    const inst = new DockerInstance(this, {
      id: container.id,
      name: spec.name,
      modelId: model.id,
      configHash: spec.configHash,
      gpuIndices: [...req.gpuIndices],
    });
    this.logger.info({ model: model.id, container: spec.name, id: container.id.slice(0, 12) }, 'container created');

    const fail = async (failure: GatewayError): Promise<never> => {
      // Died by itself meanwhile (seen by `wait` or an event): that is the reason, not the step that tripped on it.
      const died = inst.diedOnItsOwn;
      const err = died ? errors.containerDiedStarting(model.id, died.reason, { cause: failure }) : failure;
      const output = await inst.abandon(err.message);
      if (output.trim()) throw startFailureError(err.message, output, err.cause ?? err);
      throw err;
    };

    try {
      await container.start();
    } catch (err) {
      return fail(startError(err, { ...ctx, what: 'starting the container' }));
    }
    this.track(inst);
    if (req.signal.aborted) return fail(abortError(model.id, req.signal));

    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (err) {
      return fail(startError(err, { ...ctx, what: 'inspecting the container' }));
    }
    const state = info.State as ContainerState;
    if (!state.Running) {
      const exit = exitInfoFromState(state, { requested: false, sawOom: false });
      return fail(errors.containerDiedStarting(model.id, exit.reason));
    }
    const port = publishedPort(info, spec.containerPort);
    if (!port) {
      return fail(errors.noPublishedPort(model.id, spec.containerPort));
    }
    try {
      inst.reachableAt(await this.endpointFor(port));
    } catch (err) {
      return fail(startError(err, { ...ctx, what: `reaching the published port ${port}` }));
    }
    this.watchPort(inst, port);
    // Died between start and now? Report it here rather than through `exited`.
    const died = inst.diedOnItsOwn;
    if (died) return fail(errors.containerDiedStarting(model.id, died.reason));
    this.logger.info({ model: model.id, container: spec.name, endpoint: inst.endpoint }, 'container started');
    return inst;
  }

  private endpointFor(hostPort: number): Promise<string> {
    return this.opts.endpointFor ? this.opts.endpointFor(hostPort) : Promise.resolve(`http://127.0.0.1:${hostPort}`);
  }

  private watchPort(inst: DockerInstance, hostPort: number): void {
    const release = this.opts.releasePort;
    if (release) void inst.exited.then(() => release(hostPort));
  }

  private async createWithConflictRetry(spec: ContainerSpec, modelId: string): Promise<Dockerode.Container> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.docker.createContainer(spec.options);
      } catch (err) {
        if (!isNameConflict(err) || attempt >= 2) throw err;
        this.logger.warn({ model: modelId, container: spec.name }, 'container name in use; removing the old one');
        await this.removeStale(spec, modelId);
        await sleep(100 * (attempt + 1));
      }
    }
  }

  /** Removes a leftover container with this model's name, if the gateway (this prefix) made it. */
  private async removeStale(spec: ContainerSpec, modelId: string): Promise<void> {
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(spec.name).inspect();
    } catch (err) {
      if (isNotFound(err)) return;
      throw startError(err, { modelId, where: this.where, what: 'looking for a leftover container' });
    }
    const labels = info.Config?.Labels ?? {};
    if (labels[LABEL_MANAGED] !== 'true' || labels[LABEL_PREFIX] !== this.config.containerPrefix) {
      throw errors.foreignContainer(modelId, spec.name);
    }
    const tracked = this.byId.get(info.Id);
    if (tracked) {
      await tracked.stop(0);
      return;
    }
    this.logger.info({ model: modelId, container: spec.name }, 'removing leftover container');
    try {
      await this.docker.getContainer(info.Id).remove({ force: true, v: true });
    } catch (err) {
      if (!isNotFound(err) && !isRemovalInProgress(err)) {
        throw startError(err, { modelId, where: this.where, what: `removing the leftover container ${spec.name}` });
      }
    }
    // A removal in progress finishes asynchronously: wait until the name is free.
    for (let i = 0; i < 50; i++) {
      try {
        await this.docker.getContainer(spec.name).inspect();
      } catch (err) {
        if (isNotFound(err)) return;
      }
      await sleep(100);
    }
  }

  reconcile(models: ReconcileModel[]): Promise<Map<string, Instance>> {
    return reconcileContainers(
      {
        docker: this.docker,
        logger: this.logger,
        where: this.where,
        prefix: this.config.containerPrefix,
        host: this.opts.host,
        isTracked: (id) => this.byId.has(id),
        adopt: async (init, hostPort) => {
          const inst = new DockerInstance(this, init);
          inst.reachableAt(await this.endpointFor(hostPort));
          this.watchPort(inst, hostPort);
          this.track(inst);
          return inst;
        },
      },
      models,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.events.close();
    this.closeController.abort();
  }
}
