// runtime: process — any OpenAI-compatible server started as a child process (docs/configuration.md).
// The child runs in its own process group (so a stop reaches the workers vLLM forks), with the
// gateway's environment plus the model's env plus CUDA_VISIBLE_DEVICES, cwd = the config's folder.
//
// No orphans (P14): when given a state file, every server started is recorded there (pid = process
// group, start time, port, config hash) until it exits, so that a gateway restarted after being
// killed with SIGKILL adopts the servers its predecessor left running whose config still matches
// and kills the others (reconcile). Each record names the gateway process that owns it: one whose
// owner still runs (the same config served twice) is left alone. That part is Linux-only (it reads /proc); elsewhere nothing is
// recorded and reconcile adopts and kills nothing.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { ProcessModelConfig } from '../config/types.js';
import { effectiveEnv } from '../config/sleep-config.js';
import { substituteModelPlaceholders } from '../config/env-substitution.js';
import { errors } from '../errors.js';
import type { GatewayLogger } from '../logger.js';
import { descendantPids } from '../gpu/process-tree.js';
import { OutputTail } from './output-tail.js';
import { signalGroup, stopGroup } from './process-group.js';
import {
  groupMembers,
  isSameProcess,
  PROCESS_STATE_SUPPORTED,
  procStat,
  processModelHash,
  readStateFile,
  writeStateFile,
  type ProcessRecord,
} from './process-state.js';
import {
  utilizationOfFound,
  type ExitInfo,
  type Instance,
  type ReconcileModel,
  type Runtime,
  type RuntimeHealth,
  type StartRequest,
} from './runtime.js';
import { vllmSleepApi } from './vllm-sleep.js';

/** Ask the OS for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

class ProcessInstance implements Instance {
  private readonly sleepApi = vllmSleepApi(() => this.endpoint);
  readonly sleep = this.sleepApi.sleep;
  readonly wake = this.sleepApi.wake;
  readonly sleepingLevel = this.sleepApi.sleepingLevel;
  readonly exited: Promise<ExitInfo>;
  /** The GPUs placement gave it (its CUDA_VISIBLE_DEVICES). */
  gpuIndices: readonly number[] | null = null;
  private stopRequested = false;
  private done = false;

  constructor(
    readonly endpoint: string,
    private readonly child: ChildProcess,
    private readonly output: OutputTail,
    /** Added to a "not found" failure: which PATH was searched (a GUI launch's PATH can be short). */
    notFoundHint = '',
  ) {
    this.exited = new Promise((resolve) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        this.done = true;
        const hint = err.code === 'ENOENT' ? notFoundHint : '';
        output.push(`${err.message}${hint}\n`);
        resolve({
          code: null,
          signal: null,
          oomKilled: false,
          reason: `could not be run (${err.message})${hint}`,
          requested: this.stopRequested,
        });
      });
      child.once('exit', (code, signal) => {
        this.done = true;
        const reason = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        resolve({ code, signal, oomKilled: false, reason, requested: this.stopRequested });
      });
    });
  }

  async stop(graceMs: number): Promise<void> {
    if (this.done) return;
    this.stopRequested = true;
    const child = this.child;
    if (child.pid === undefined) return;
    await stopGroup(
      {
        pgid: child.pid,
        gone: this.exited,
        // Not a group leader only if spawning it failed half-way: then the child alone.
        signal: (sig) => void (signalGroup(child.pid!, sig) || child.kill(sig)),
      },
      graceMs,
    );
  }

  async logs(tail: number): Promise<string> {
    return this.output.tail(tail);
  }

  async pids(): Promise<number[]> {
    if (this.done || this.child.pid === undefined) return [];
    const all = await descendantPids([this.child.pid]);
    return [...new Set([this.child.pid, ...all])];
  }
}

/** For a bare command name: the PATH it was looked up in, and what to do about it. */
export function notFoundHint(cmd: string, searchPath: string | undefined): string {
  if (cmd.includes('/') || cmd.includes('\\')) return '';
  return `: "${cmd}" is not on the PATH the gateway searched (${searchPath || '(empty)'}); give its full path in the model's command`;
}

/** Whether GET `url` answers 200 within `timeoutMs`. */
async function answers200(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await request(url, {
      method: 'GET',
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

/** A server an earlier gateway started and this one adopted (reconcile): known by pid and start time only. */
class AdoptedProcessInstance implements Instance {
  private readonly sleepApi = vllmSleepApi(() => this.endpoint);
  readonly sleep = this.sleepApi.sleep;
  readonly wake = this.sleepApi.wake;
  readonly sleepingLevel = this.sleepApi.sleepingLevel;
  readonly endpoint: string;
  readonly exited: Promise<ExitInfo>;
  private stopRequested = false;
  private done = false;
  private pollMs = 500;
  private wakePoll: (() => void) | null = null;

  /** Where it runs, as recorded when it was started (null: an older record without it). */
  get gpuIndices(): readonly number[] | null {
    return this.record.gpuIndices ?? null;
  }

  constructor(readonly record: ProcessRecord) {
    this.endpoint = `http://127.0.0.1:${record.port}`;
    this.exited = this.watch();
  }

  /** Polls /proc until the process is gone (it is not our child: there is no exit event to wait for). */
  private async watch(): Promise<ExitInfo> {
    while (await isSameProcess(this.record.pid, this.record.startTime)) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.pollMs);
        if (!this.stopRequested) t.unref(); // watching alone keeps nothing alive; a stop in progress does
        this.wakePoll = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakePoll = null;
    }
    this.done = true;
    const requested = this.stopRequested;
    // Its exit status went to its new parent (init), not to us.
    const reason = requested ? 'was stopped' : 'exited (an adopted process: its exit status is not known)';
    return { code: null, signal: null, oomKilled: false, reason, requested };
  }

  async stop(graceMs: number): Promise<void> {
    if (this.done) return;
    this.stopRequested = true;
    this.pollMs = 50;
    this.wakePoll?.();
    await stopGroup({ pgid: this.record.pid, gone: this.exited }, graceMs);
  }

  async logs(): Promise<string> {
    return (
      'Output is not available: this server was started by an earlier gateway process and adopted at start-up; ' +
      'its output went to that process.\n'
    );
  }

  async pids(): Promise<number[]> {
    if (this.done) return [];
    const all = await descendantPids([this.record.pid]);
    return [...new Set([this.record.pid, ...all])];
  }
}

export interface ProcessRuntimeOptions {
  /** The folder relative paths in `command` resolve against (the config's folder). */
  configDir: string;
  /**
   * Where the servers started are recorded (P14), e.g. `<config path>.processes.json`; null: not
   * recorded, and reconcile adopts and kills nothing.
   */
  stateFile?: string | null;
  logger?: GatewayLogger;
}

/** How long a leftover server gets between SIGTERM and SIGKILL at start-up. */
const LEFTOVER_GRACE_MS = 5000;
/** How long an adoptable leftover has to answer its health path. */
const ADOPT_HEALTH_TIMEOUT_MS = 2000;

export class ProcessRuntime implements Runtime {
  readonly kind = 'process' as const;

  private readonly configDir: string;
  private readonly stateFile: string | null;
  private readonly log: NonNullable<ProcessRuntimeOptions['logger']> | null;
  /** Servers alive as far as this runtime knows, by pid: started here, adopted, or read from the state file. */
  private readonly records = new Map<number, ProcessRecord>();
  /** Pids of the records that are ours (started or adopted here), as opposed to leftovers read from the file. */
  private readonly owned = new Set<number>();
  private loaded: Promise<void> | null = null;
  /** This gateway process, as records name their owner (procStat of our own pid, read once). */
  private self: Promise<{ pid: number; startTime: number } | null> | null = null;
  private writing: Promise<void> = Promise.resolve();

  /** @param opts the config's folder (relative paths in `command` resolve against it), or options. */
  constructor(opts: ProcessRuntimeOptions) {
    this.configDir = opts.configDir;
    this.stateFile = PROCESS_STATE_SUPPORTED ? (opts.stateFile ?? null) : null;
    this.log = opts.logger ?? null;
  }

  /** Reads the state file once, so that writing it never forgets the leftovers it lists. */
  private load(): Promise<void> {
    this.loaded ??= (async () => {
      if (!this.stateFile) return;
      for (const r of await readStateFile(this.stateFile)) if (!this.records.has(r.pid)) this.records.set(r.pid, r);
    })();
    return this.loaded;
  }

  /** Writes the records as they are when the write runs; writes are serialised. Never rejects. */
  private persist(): Promise<void> {
    const file = this.stateFile;
    if (!file) return Promise.resolve();
    this.writing = this.writing.then(() =>
      writeStateFile(file, [...this.records.values()]).catch((err: Error) =>
        this.log?.warn({ file, err: err.message }, 'could not write the process state file'),
      ),
    );
    return this.writing;
  }

  private owner(): Promise<{ pid: number; startTime: number } | null> {
    this.self ??= procStat(process.pid).then((s) => (s ? { pid: process.pid, startTime: s.startTime } : null));
    return this.self;
  }

  /** Another gateway process that is still running owns this record (it started or adopted the server). */
  private async ownedElsewhere(r: ProcessRecord): Promise<boolean> {
    if (!r.owner) return false;
    const me = await this.owner();
    if (me && r.owner.pid === me.pid && r.owner.startTime === me.startTime) return false;
    return isSameProcess(r.owner.pid, r.owner.startTime);
  }

  /** Records a server (started or adopted here) until it exits; this gateway becomes its owner. */
  private async track(recordIn: ProcessRecord, exited: Promise<unknown>): Promise<void> {
    const owner = await this.owner();
    const record: ProcessRecord = owner ? { ...recordIn, owner } : recordIn;
    this.records.set(record.pid, record);
    this.owned.add(record.pid);
    void exited.then(() => {
      if (this.records.get(record.pid) !== record) return;
      this.records.delete(record.pid);
      this.owned.delete(record.pid);
      void this.persist();
    });
    await this.persist();
  }

  /**
   * Stops a leftover's whole process group (and the server itself, should it have left the group):
   * SIGTERM, SIGKILL after the grace; resolves once none of them is left.
   */
  private async killLeftover(r: ProcessRecord, graceMs: number): Promise<void> {
    const left = async () => (await groupMembers(r.pid, r.startTime)).length > 0 || (await isSameProcess(r.pid, r.startTime));
    const signal = async (sig: NodeJS.Signals) => {
      signalGroup(r.pid, sig);
      if (await isSameProcess(r.pid, r.startTime)) {
        try {
          process.kill(r.pid, sig);
        } catch {
          /* gone */
        }
      }
    };
    if (!(await left())) return;
    let watching = true;
    const gone = (async () => {
      while (watching && (await left())) await sleep(100);
    })();
    const ended = await stopGroup({ pgid: r.pid, gone, signal }, graceMs, 5000);
    watching = false;
    if (ended) return;
    this.log?.warn({ model: r.modelId, pid: r.pid }, 'leftover model server still running after SIGKILL');
  }

  /**
   * P14 for process models: the servers an earlier gateway recorded and left running are adopted when
   * their model is still configured with the same hash and they answer their health path, and killed
   * (their whole process group) otherwise. Resolves once the killed ones are gone.
   */
  async reconcile(models: ReconcileModel[]): Promise<Map<string, Instance>> {
    const adopted = new Map<string, Instance>();
    if (!this.stateFile) return adopted; // not recorded, or not Linux
    await this.load();
    const wanted = new Map<string, { hash: (r: ProcessRecord) => string; healthPath: string }>();
    for (const m of models) {
      const model = m.model;
      if (model.runtime !== 'process') continue;
      // Compared on the GPUs the server was given, when it was recorded (gpus: auto may have put it on any).
      const hash = (r: ProcessRecord) => processModelHash(model, utilizationOfFound(m, r.gpuIndices));
      wanted.set(model.id, { hash, healthPath: model.healthPath });
    }
    const kills: Array<Promise<void>> = [];
    for (const r of [...this.records.values()]) {
      if (this.owned.has(r.pid)) continue; // started by this runtime
      if (await this.ownedElsewhere(r)) {
        // A gateway on the same config runs (this one was started twice): its servers are its own.
        this.log?.info({ model: r.modelId, pid: r.pid, owner: r.owner!.pid }, 'left to the running gateway that owns it');
        continue;
      }
      const stat = await procStat(r.pid);
      const sameProcess = stat !== null && stat.startTime === r.startTime && stat.state !== 'Z' && stat.state !== 'X';
      if (!sameProcess) {
        this.records.delete(r.pid);
        // The server is gone; workers of its group may not be (unless the pid now belongs to another program).
        if (stat === null || stat.startTime === r.startTime) kills.push(this.killLeftover(r, LEFTOVER_GRACE_MS));
        continue;
      }
      const want = wanted.get(r.modelId);
      const why = !want
        ? 'model no longer configured'
        : want.hash(r) !== r.hash
          ? 'config changed'
          : stat.pgid !== r.pid
            ? 'not in its own process group'
            : adopted.has(r.modelId)
              ? 'duplicate'
              : !(await answers200(`http://127.0.0.1:${r.port}${want.healthPath}`, ADOPT_HEALTH_TIMEOUT_MS))
                ? `no 200 from ${want.healthPath} within ${ADOPT_HEALTH_TIMEOUT_MS / 1000} s`
                : null;
      if (why === null) {
        const inst = new AdoptedProcessInstance(r);
        await this.track(r, inst.exited);
        adopted.set(r.modelId, inst);
        this.log?.info({ model: r.modelId, pid: r.pid, endpoint: inst.endpoint }, 'adopted running process model server');
        continue;
      }
      this.log?.info({ model: r.modelId, pid: r.pid, why }, 'killing leftover process model server');
      this.records.delete(r.pid);
      kills.push(this.killLeftover(r, LEFTOVER_GRACE_MS));
    }
    await Promise.all(kills);
    await this.persist();
    return adopted;
  }

  /** Waits for the state file's pending writes. Does not stop instances. */
  async close(): Promise<void> {
    await this.writing;
  }

  async health(): Promise<RuntimeHealth> {
    return { ok: true, reason: null };
  }

  async start(req: StartRequest): Promise<Instance> {
    const model = req.model as ProcessModelConfig;
    const port = await freePort();
    const values = {
      PORT: String(port),
      MODEL_ID: model.id,
      GPU_MEMORY_UTILIZATION: String(req.gpuMemoryUtilization),
      CUDA_VISIBLE_DEVICES: req.gpuIndices.join(','),
    };
    const sub = (s: string) => substituteModelPlaceholders(s, values);
    const [cmd, ...rest] = [...model.command, ...model.args].map(sub);
    if (!cmd) throw errors.emptyCommand();
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(effectiveEnv(model))) env[k] = sub(v);
    env.CUDA_VISIBLE_DEVICES = values.CUDA_VISIBLE_DEVICES;

    req.onPhase('starting');
    const output = new OutputTail();
    const child = spawn(cmd, rest, {
      cwd: this.configDir ? path.resolve(this.configDir) : process.cwd(),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout?.on('data', (c: Buffer) => output.push(c));
    child.stderr?.on('data', (c: Buffer) => output.push(c));
    const instance = new ProcessInstance(`http://127.0.0.1:${port}`, child, output, notFoundHint(cmd, env.PATH));
    instance.gpuIndices = [...req.gpuIndices];
    // The caller may abandon the start; make sure the child goes with it.
    const onAbort = () => void instance.stop(2000);
    req.signal.addEventListener('abort', onAbort, { once: true });
    void instance.exited.then(() => req.signal.removeEventListener('abort', onAbort));
    if (this.stateFile && child.pid !== undefined) {
      // Recorded before the start is reported, so a gateway killed from now on leaves a trace of it.
      await this.load();
      const stat = await procStat(child.pid);
      if (stat) {
        await this.track(
          {
            modelId: model.id,
            pid: child.pid,
            startTime: stat.startTime,
            port,
            hash: processModelHash(model, req.gpuMemoryUtilization),
            gpuIndices: [...req.gpuIndices],
          },
          instance.exited,
        );
      }
    }
    return instance;
  }
}
