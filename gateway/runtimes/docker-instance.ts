// One container the gateway started or adopted. It owns what it knows about its container (stop
// asked, OOM seen, removed, its output) and settles `exited` exactly once, however it ended.

import { setTimeout as sleep } from 'node:timers/promises';
import type Dockerode from 'dockerode';
import { descendantPids } from '../gpu/process-tree.js';
import { engineMessage, isNotFound, isRemovalInProgress, statusCode } from './docker-errors.js';
import { exitInfoFromState, type ContainerState } from './docker-inspect.js';
import { demuxDockerLogs, lastLines } from './docker-logs.js';
import type { ExitInfo, Instance, RuntimeLogger } from './runtime.js';
import { vllmSleepApi } from './vllm-sleep.js';

/** What an instance needs from the runtime that made it. */
export interface DockerInstanceHost {
  readonly docker: Dockerode;
  readonly logger: RuntimeLogger;
  /** Lines of output kept, so that logs survive the container's removal. */
  readonly keepLogLines: number;
  /** Called once, when the instance has exited, so the runtime stops tracking it. */
  forget(inst: DockerInstance): void;
}

export interface DockerInstanceInit {
  id: string;
  name: string;
  modelId: string;
  configHash: string;
  /** The host GPU indices the container was given (from its label when adopted; null when unknown). */
  gpuIndices: number[] | null;
}

export class DockerInstance implements Instance {
  private readonly sleepApi = vllmSleepApi(() => this.endpoint);
  readonly sleep = this.sleepApi.sleep;
  readonly wake = this.sleepApi.wake;
  readonly sleepingLevel = this.sleepApi.sleepingLevel;
  readonly exited: Promise<ExitInfo>;
  readonly id: string;
  readonly name: string;
  readonly modelId: string;
  readonly configHash: string;
  readonly gpuIndices: number[] | null;
  private settle!: (info: ExitInfo) => void;
  private exit: ExitInfo | null = null;
  private stopRequested = false;
  private sawOom = false;
  private removed = false;
  private logBuffer: string[] = [];
  private stopping: Promise<void> | null = null;
  private refreshing: Promise<void> | null = null;
  private url = '';

  constructor(
    private readonly host: DockerInstanceHost,
    init: DockerInstanceInit,
  ) {
    this.id = init.id;
    this.name = init.name;
    this.modelId = init.modelId;
    this.configHash = init.configHash;
    this.gpuIndices = init.gpuIndices;
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.settle = resolve;
    });
  }

  get endpoint(): string {
    return this.url;
  }

  get container(): Dockerode.Container {
    return this.host.docker.getContainer(this.id);
  }

  /** Running and not being stopped: a start of the same config may reuse it. */
  get live(): boolean {
    return this.exit === null && !this.stopRequested;
  }

  /** How it ended when it died by itself (not asked to stop); null while it runs or when stopped. */
  get diedOnItsOwn(): ExitInfo | null {
    return this.exit && !this.exit.requested ? this.exit : null;
  }

  /** Where the server is reached from here: 127.0.0.1 and the port Docker published, or a forward to it. */
  reachableAt(endpoint: string): void {
    this.url = endpoint;
  }

  /** Docker reported an OOM kill; the `die` event that follows is then reported as one. */
  noteOom(): void {
    this.sawOom = true;
  }

  /** A start that failed part-way: removes the container and settles; resolves with its last output. */
  async abandon(reason: string): Promise<string> {
    this.stopRequested = true;
    await this.captureLogs();
    const output = await this.logs(40);
    await this.remove().catch(() => undefined); // logged in remove()
    this.markExited({ code: null, signal: null, oomKilled: this.sawOom, reason, requested: true });
    return output;
  }

  async logs(tail: number): Promise<string> {
    if (!this.removed && !this.exit) await this.captureLogs();
    return lastLines(this.logBuffer.join('\n'), Math.max(0, tail)).join('\n');
  }

  /** Inspects the container; settles `exited` if it is no longer running (and removes it if it died by itself). */
  refresh(): Promise<void> {
    if (this.exit) return Promise.resolve();
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  stop(graceMs: number): Promise<void> {
    this.stopping ??= this.doStop(graceMs);
    return this.stopping;
  }

  async pids(): Promise<number[]> {
    if (this.exit) return [];
    try {
      const top = (await this.container.top({ ps_args: '-eo pid' })) as { Titles?: string[]; Processes?: string[][] };
      const col = (top.Titles ?? []).findIndex((t) => t.trim().toUpperCase() === 'PID');
      if (col >= 0 && top.Processes) {
        const pids = top.Processes.map((p) => Number(p[col])).filter((n) => Number.isInteger(n) && n > 0);
        if (pids.length) return pids;
      }
    } catch {
      /* fall back to inspect + the process table */
    }
    try {
      const state = (await this.container.inspect()).State as ContainerState;
      return state.Pid ? await descendantPids([state.Pid]) : [];
    } catch {
      return [];
    }
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    try {
      await this.container.remove({ force: true, v: true });
      this.removed = true;
    } catch (err) {
      if (isNotFound(err) || isRemovalInProgress(err)) {
        this.removed = true;
        return;
      }
      this.host.logger.warn({ model: this.modelId, container: this.name, err: engineMessage(err) }, 'could not remove container');
      throw err;
    }
  }

  private markExited(info: ExitInfo): void {
    if (this.exit) return;
    this.exit = info;
    this.host.forget(this);
    this.settle(info);
  }

  /** Reads the container's output into the buffer; false when it is gone. */
  private async captureLogs(): Promise<boolean> {
    if (this.removed) return false;
    try {
      const buf = (await this.container.logs({
        stdout: true,
        stderr: true,
        follow: false,
        tail: this.host.keepLogLines,
      })) as unknown as Buffer;
      this.logBuffer = lastLines(demuxDockerLogs(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf))), this.host.keepLogLines);
      return true;
    } catch (err) {
      if (isNotFound(err)) this.removed = true;
      return false;
    }
  }

  private async doRefresh(): Promise<void> {
    let state: ContainerState | null;
    try {
      state = (await this.container.inspect()).State as ContainerState;
    } catch (err) {
      if (isNotFound(err)) state = null;
      else return; // daemon unreachable: the event stream's reconnect brings us back here
    }
    if (state && (state.Running || state.Status === 'created' || state.Status === 'restarting')) return;
    if (state) await this.captureLogs();
    else this.removed = true;
    const info = exitInfoFromState(state, { requested: this.stopRequested, sawOom: this.sawOom });
    this.host.logger.info({ model: this.modelId, container: this.name, exit: info }, 'container exited');
    this.markExited(info);
    // Died by itself: remove it; its output is kept here.
    if (!this.stopRequested) await this.remove().catch(() => undefined); // logged in remove()
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
          this.host.logger.warn(
            { model: this.modelId, container: this.name, err: engineMessage(err) },
            'docker stop failed; removing by force',
          );
        }
      }
    }
    await this.captureLogs();
    if (!this.exit) {
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
}
