// `runtime: docker`: vLLM servers as containers, through dockerode (CONTRACT.md §5, issue 3).
// The lifecycle owns the model's state; this file only makes containers exist or not, and says
// as soon as one is gone (Docker events, `wait`, and a re-list after the daemon comes back).

import { mkdir, readdir, readFile } from 'node:fs/promises';
import Dockerode from 'dockerode';
import type { DockerModelConfig, GatewayConfig, LocalModelConfig } from '../config/types.js';
import { GatewayError } from '../errors.js';
import type { ExitInfo, Instance, Runtime, RuntimeHealth, StartRequest } from './runtime.js';
import { LABEL_CONFIG_HASH, LABEL_GPUS, LABEL_MANAGED, LABEL_MODEL, LABEL_PREFIX, modelConfigHash } from './docker-naming.js';
import { buildContainerSpec, type ContainerSpec, type SpecOptions } from './docker-spec.js';
import { JsonLineSplitter, PullProgressTracker, type PullMessage } from './docker-pull-progress.js';
import {
  engineMessage,
  healthReason,
  imageMissingError,
  isNameConflict,
  isNotFound,
  isRemovalInProgress,
  pullError,
  startError,
  statusCode,
} from './docker-errors.js';
import { DockerEventFollower, type DockerEvent } from './docker-events.js';

export interface RuntimeLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silentLogger: RuntimeLogger = { debug() {}, info() {}, warn() {}, error() {} };

export type DockerConfig = GatewayConfig['docker'];

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
}

/** dockerode's connection options from the config: DOCKER_HOST (unix:// or tcp://) wins over socketPath. */
export function dockerConnection(config: Pick<DockerConfig, 'socketPath' | 'dockerHost'>): {
  options: Dockerode.DockerOptions;
  where: string;
} {
  const host = config.dockerHost?.trim();
  if (host) {
    if (host.startsWith('unix://')) {
      const socketPath = host.slice('unix://'.length) || '/var/run/docker.sock';
      return { options: { socketPath }, where: socketPath };
    }
    if (/^(tcp|http|https):\/\//.test(host) || !host.includes('://')) {
      const url = new URL(host.includes('://') ? host : `tcp://${host}`);
      const protocol = url.protocol === 'https:' || url.port === '2376' ? 'https' : 'http';
      return {
        options: { host: url.hostname, port: url.port || (protocol === 'https' ? 2376 : 2375), protocol },
        where: `tcp://${url.host}`,
      };
    }
    throw new GatewayError('internal_error', `DOCKER_HOST ${host} is not supported: use unix:///path or tcp://host:port`);
  }
  return { options: { socketPath: config.socketPath }, where: config.socketPath };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Splits Docker's multiplexed log format (8-byte frame headers) into text, stdout and stderr merged. */
export function demuxDockerLogs(buf: Buffer): string {
  // A TTY container (not ours) sends raw text: detect by the header shape.
  const parts: Buffer[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const type = buf[off];
    if (!(type === 0 || type === 1 || type === 2) || buf[off + 1] !== 0 || buf[off + 2] !== 0 || buf[off + 3] !== 0) {
      return buf.toString('utf8');
    }
    const len = buf.readUInt32BE(off + 4);
    parts.push(buf.subarray(off + 8, off + 8 + len));
    off += 8 + len;
  }
  if (off < buf.length && parts.length === 0) return buf.toString('utf8');
  return Buffer.concat(parts).toString('utf8');
}

function lastLines(text: string, n: number): string[] {
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return n >= lines.length ? lines : lines.slice(lines.length - n);
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

interface ContainerState {
  Running?: boolean;
  Status?: string;
  ExitCode?: number;
  OOMKilled?: boolean;
  Error?: string;
  Pid?: number;
}

export function exitInfoFromState(state: ContainerState | null, opts: { requested: boolean; sawOom: boolean }): ExitInfo {
  if (!state) {
    return {
      code: null,
      signal: null,
      oomKilled: opts.sawOom,
      reason: opts.sawOom ? 'killed (OOM)' : opts.requested ? 'stopped' : 'container removed',
      requested: opts.requested,
    };
  }
  const code = typeof state.ExitCode === 'number' ? state.ExitCode : null;
  const oomKilled = Boolean(state.OOMKilled) || opts.sawOom;
  const signal = code !== null && code > 128 && SIGNALS[code - 128] ? SIGNALS[code - 128] : null;
  let reason: string;
  if (oomKilled) reason = 'killed (OOM)';
  else if (opts.requested) reason = code === null ? 'stopped' : `stopped (exit code ${code})`;
  else if (signal) reason = `killed by ${signal} (exit code ${code})`;
  else if (code !== null) reason = `exited with code ${code}`;
  else reason = 'exited';
  if (state.Error && !opts.requested) reason += `: ${state.Error}`;
  return { code, signal, oomKilled, reason, requested: opts.requested };
}

class DockerInstance implements Instance {
  readonly exited: Promise<ExitInfo>;
  private settle!: (info: ExitInfo) => void;
  settled: ExitInfo | null = null;
  stopRequested = false;
  sawOom = false;
  removed = false;
  private logBuffer: string[] = [];
  private stopping: Promise<void> | null = null;
  private refreshing: Promise<void> | null = null;
  endpoint = '';

  constructor(
    private readonly runtime: DockerRuntime,
    readonly id: string,
    readonly name: string,
    readonly modelId: string,
    readonly configHash: string,
    readonly adopted: boolean,
    /** Extension: the host GPU indices the container was given (from its label when adopted). */
    readonly gpuIndices: number[] | null,
  ) {
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.settle = resolve;
    });
  }

  get container(): Dockerode.Container {
    return this.runtime.docker.getContainer(this.id);
  }

  get live(): boolean {
    return this.settled === null && !this.stopRequested;
  }

  markExited(info: ExitInfo): void {
    if (this.settled) return;
    this.settled = info;
    this.runtime.forget(this);
    this.settle(info);
  }

  /** Reads the container's output into the buffer; false when it is gone. */
  async captureLogs(): Promise<boolean> {
    if (this.removed) return false;
    try {
      const buf = (await this.container.logs({
        stdout: true,
        stderr: true,
        follow: false,
        tail: this.runtime.keepLogLines,
      })) as unknown as Buffer;
      this.logBuffer = lastLines(demuxDockerLogs(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf))), this.runtime.keepLogLines);
      return true;
    } catch (err) {
      if (isNotFound(err)) this.removed = true;
      return false;
    }
  }

  async logs(tail: number): Promise<string> {
    if (!this.removed && !this.settled) await this.captureLogs();
    return lastLines(this.logBuffer.join('\n'), Math.max(0, tail)).join('\n');
  }

  /** Inspects the container; settles `exited` if it is no longer running (and removes it if it died by itself). */
  refresh(): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    let state: ContainerState | null;
    try {
      const info = await this.container.inspect();
      state = info.State as ContainerState;
    } catch (err) {
      if (isNotFound(err)) state = null;
      else return; // daemon unreachable: the event stream's reconnect will bring us back here
    }
    if (state && (state.Running || state.Status === 'created' || state.Status === 'restarting')) return;
    if (state) await this.captureLogs();
    else this.removed = true;
    const info = exitInfoFromState(state, { requested: this.stopRequested, sawOom: this.sawOom });
    this.runtime.logger.info({ model: this.modelId, container: this.name, exit: info }, 'container exited');
    this.markExited(info);
    // Died by itself: remove it (contract §5), its output is kept here.
    if (!this.stopRequested) await this.remove().catch(() => undefined); // logged in remove()
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    try {
      await this.container.remove({ force: true, v: true });
      this.removed = true;
    } catch (err) {
      if (isNotFound(err)) this.removed = true;
      else if (isRemovalInProgress(err)) {
        this.removed = true;
      } else {
        this.runtime.logger.warn({ model: this.modelId, container: this.name, err: engineMessage(err) }, 'could not remove container');
        throw err;
      }
    }
  }

  stop(graceMs: number): Promise<void> {
    this.stopping ??= this.doStop(graceMs);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    this.stopRequested = true;
    const t = Math.max(0, Math.ceil(graceMs / 1000));
    if (!this.removed) {
      try {
        await this.container.stop({ t });
      } catch (err) {
        // 304: already stopped; 404: already gone.
        const s = statusCode(err);
        if (s === 404) this.removed = true;
        else if (s !== 304) {
          this.runtime.logger.warn(
            { model: this.modelId, container: this.name, err: engineMessage(err) },
            'docker stop failed; removing by force',
          );
        }
      }
    }
    await this.captureLogs();
    if (!this.settled) {
      let state: ContainerState | null = null;
      if (!this.removed) {
        try {
          state = (await this.container.inspect()).State as ContainerState;
        } catch {
          state = null;
        }
      }
      this.markExited(exitInfoFromState(state, { requested: true, sawOom: this.sawOom }));
    }
    try {
      await this.remove();
    } catch {
      // Retried once: a removal can race with the daemon's own cleanup.
      await sleep(200);
      await this.remove().catch(() => undefined);
    }
  }

  async pids(): Promise<number[]> {
    if (this.settled) return [];
    try {
      const top = (await this.container.top({ ps_args: '-eo pid' })) as { Titles?: string[]; Processes?: string[][] };
      const col = (top.Titles ?? []).findIndex((t) => t.trim().toUpperCase() === 'PID');
      if (col >= 0 && top.Processes) {
        const pids = top.Processes.map((p) => Number(p[col])).filter((n) => Number.isInteger(n) && n > 0);
        if (pids.length) return pids;
      }
    } catch {
      /* fall back to inspect + /proc */
    }
    try {
      const state = (await this.container.inspect()).State as ContainerState;
      if (!state.Pid) return [];
      return await descendants(state.Pid);
    } catch {
      return [];
    }
  }
}

/** `root` and every process below it, from /proc (Linux); just `root` elsewhere. */
async function descendants(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  try {
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        const list = children.get(ppid) ?? [];
        list.push(Number(entry));
        children.set(ppid, list);
      } catch {
        /* gone meanwhile */
      }
    }
  } catch {
    return [root];
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

function abortError(modelId: string, signal: AbortSignal): GatewayError {
  const why = signal.reason instanceof Error ? signal.reason.message : signal.reason ? String(signal.reason) : 'abandoned';
  return new GatewayError('model_start_failed', `model ${modelId}: start abandoned (${why})`, { cause: signal.reason });
}

export class DockerRuntime implements Runtime {
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
    const conn = dockerConnection(config);
    this.where = conn.where;
    this.docker = opts.docker ?? new Dockerode(conn.options);
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
    if (action === 'oom') inst.sawOom = true; // a "die" follows; OOMKilled is also in the inspect
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
      return Promise.reject(new GatewayError('internal_error', `model ${model.id} is not a docker model`));
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
    });
    const existing = this.liveInstanceOf(model.id);
    if (existing && existing.configHash === spec.configHash) return existing;
    if (req.signal.aborted) throw abortError(model.id, req.signal);
    if (this.closed) throw new GatewayError('model_start_failed', `model ${model.id}: the Docker runtime is closed`);
    const ctx = { modelId: model.id, where: this.where };

    await this.ensureImage(model, req);
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
    const inst = new DockerInstance(this, container.id, spec.name, model.id, spec.configHash, false, [...req.gpuIndices]);
    this.logger.info({ model: model.id, container: spec.name, id: container.id.slice(0, 12) }, 'container created');

    const fail = async (failure: GatewayError): Promise<never> => {
      // Died by itself meanwhile (seen by `wait` or an event): that is the reason, not the step that tripped on it.
      const err =
        inst.settled && !inst.settled.requested
          ? new GatewayError('model_start_failed', `model ${model.id}: the container ${inst.settled.reason} while starting`, {
              cause: failure,
            })
          : failure;
      inst.stopRequested = true;
      await inst.captureLogs();
      const logs = await inst.logs(40);
      await inst.remove().catch(() => undefined);
      inst.markExited({ code: null, signal: null, oomKilled: inst.sawOom, reason: err.message, requested: true });
      if (logs.trim()) {
        throw new GatewayError('model_start_failed', `${err.message}\n--- last lines of the container's output ---\n${logs}`, {
          cause: err.cause ?? err,
        });
      }
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
      const exit = exitInfoFromState(state, { requested: false, sawOom: inst.sawOom });
      return fail(new GatewayError('model_start_failed', `model ${model.id}: the container ${exit.reason} while starting`));
    }
    const port = publishedPort(info, spec.containerPort);
    if (!port) {
      return fail(new GatewayError('model_start_failed', `model ${model.id}: Docker published no host port for ${spec.containerPort}/tcp`));
    }
    inst.endpoint = `http://127.0.0.1:${port}`;
    // Died between start and now? Report it here rather than through `exited`.
    if (inst.settled && !inst.settled.requested) {
      return fail(new GatewayError('model_start_failed', `model ${model.id}: the container ${inst.settled.reason} while starting`));
    }
    this.logger.info({ model: model.id, container: spec.name, endpoint: inst.endpoint }, 'container started');
    return inst;
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
      throw new GatewayError(
        'model_start_failed',
        `model ${modelId}: a container named ${spec.name} exists that the gateway does not manage; remove or rename it (\`docker rm -f ${spec.name}\`)`,
      );
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

  private async imageExists(image: string, modelId: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw startError(err, { modelId, where: this.where, what: `looking for image ${image}` });
    }
  }

  private async ensureImage(model: DockerModelConfig, req: StartRequest): Promise<void> {
    const policy = this.config.pull;
    if (policy === 'never') {
      if (!(await this.imageExists(model.image, model.id))) throw imageMissingError(model.id, model.image);
      return;
    }
    if (policy === 'missing' && (await this.imageExists(model.image, model.id))) return;
    try {
      await this.pull(model, req);
    } catch (err) {
      if (policy === 'always' && !(err instanceof GatewayError && req.signal.aborted)) {
        const present = await this.imageExists(model.image, model.id).catch(() => false);
        if (present) {
          this.logger.warn({ model: model.id, image: model.image, err: engineMessage(err) }, 'pull failed; using the local image');
          return;
        }
      }
      throw err;
    }
  }

  private async pull(model: DockerModelConfig, req: StartRequest): Promise<void> {
    req.onPhase('pulling');
    const tracker = new PullProgressTracker(model.image);
    req.onProgress(tracker.progress());
    const interval = this.opts.progressIntervalMs ?? 250;
    let lastReport = 0;
    let lastPercent: number | null = null;
    const report = (force = false) => {
      const p = tracker.progress();
      const now = Date.now();
      if (force || (p.percent !== lastPercent && now - lastReport >= interval)) {
        lastReport = now;
        lastPercent = p.percent;
        req.onProgress(p);
      }
    };
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await this.docker.pull(model.image, { abortSignal: req.signal } as object)) as NodeJS.ReadableStream;
    } catch (err) {
      if (req.signal.aborted) throw abortError(model.id, req.signal);
      throw pullError(model.id, model.image, err, this.where);
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
        else if (tracker.failed) reject(pullError(model.id, model.image, new Error(tracker.failed), this.where));
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
        finish(req.signal.aborted ? abortError(model.id, req.signal) : pullError(model.id, model.image, err, this.where)),
      );
    });
    tracker.finish();
    report(true);
    if (!(await this.imageExists(model.image, model.id))) {
      throw new GatewayError('model_start_failed', `model ${model.id}: pulling image ${model.image} ended but the image is not there`);
    }
  }

  async reconcile(
    models: Array<{ model: LocalModelConfig; gpuIndices: number[]; gpuMemoryUtilization: number }>,
  ): Promise<Map<string, Instance>> {
    const prefix = this.config.containerPrefix;
    const wanted = new Map<string, string>();
    for (const m of models) {
      if (m.model.runtime === 'docker') wanted.set(m.model.id, modelConfigHash(m.model, m.gpuMemoryUtilization));
    }
    let list: Dockerode.ContainerInfo[];
    try {
      list = await this.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_PREFIX}=${prefix}`] },
      });
    } catch (err) {
      throw startError(err, { modelId: '(reconcile)', where: this.where, what: 'listing containers' });
    }
    const adopted = new Map<string, Instance>();
    for (const c of list) {
      const labels = c.Labels ?? {};
      if (labels[LABEL_PREFIX] !== prefix) continue; // never another prefix's
      if (this.byId.has(c.Id)) continue; // started by this runtime
      const modelId = labels[LABEL_MODEL];
      const name = (c.Names?.[0] ?? c.Id).replace(/^\//, '');
      const hashOk = modelId !== undefined && wanted.get(modelId) === labels[LABEL_CONFIG_HASH];
      if (hashOk && c.State === 'running' && !adopted.has(modelId)) {
        try {
          const info = await this.docker.getContainer(c.Id).inspect();
          const port = publishedPort(info, undefined);
          if (info.State.Running && port) {
            const inst = new DockerInstance(this, c.Id, name, modelId, labels[LABEL_CONFIG_HASH], true, parseGpuLabel(labels[LABEL_GPUS]));
            inst.endpoint = `http://127.0.0.1:${port}`;
            this.track(inst);
            adopted.set(modelId, inst);
            this.logger.info({ model: modelId, container: name, endpoint: inst.endpoint }, 'adopted running container');
            continue;
          }
        } catch (err) {
          if (!isNotFound(err)) this.logger.warn({ container: name, err: engineMessage(err) }, 'could not inspect container');
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
      this.logger.info({ model: modelId, container: name, why }, 'removing leftover container');
      try {
        await this.docker.getContainer(c.Id).remove({ force: true, v: true });
      } catch (err) {
        if (!isNotFound(err) && !isRemovalInProgress(err)) {
          this.logger.warn({ container: name, err: engineMessage(err) }, 'could not remove leftover container');
        }
      }
    }
    return adopted;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.events.close();
    this.closeController.abort();
  }
}

function parseGpuLabel(value: string | undefined): number[] | null {
  if (value === undefined) return null;
  if (value === '') return [];
  const list = value.split(',').map(Number);
  return list.every((n) => Number.isInteger(n) && n >= 0) ? list : null;
}

/** The host port Docker published for `containerPort`/tcp on 127.0.0.1 (any bound port when undefined). */
function publishedPort(info: Dockerode.ContainerInspectInfo, containerPort: number | undefined): number | null {
  const ports = (info.NetworkSettings?.Ports ?? {}) as Record<string, Array<{ HostIp: string; HostPort: string }> | null>;
  const keys = containerPort !== undefined ? [`${containerPort}/tcp`] : Object.keys(ports).filter((k) => k.endsWith('/tcp'));
  for (const key of keys) {
    const bindings = ports[key] ?? [];
    const b = bindings.find((x) => x.HostIp === '127.0.0.1') ?? bindings[0];
    if (b && Number(b.HostPort) > 0) return Number(b.HostPort);
  }
  return null;
}
