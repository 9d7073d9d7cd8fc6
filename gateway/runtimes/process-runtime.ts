// runtime: process — any OpenAI-compatible server started as a child process (CONTRACT §2).
// The child runs in its own process group (so a stop reaches the workers vLLM forks), with the
// gateway's environment plus the model's env plus CUDA_VISIBLE_DEVICES, cwd = the config's folder.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import type { ProcessModelConfig } from '../config/types.js';
import { substituteModelPlaceholders } from '../config/env-substitution.js';
import { GatewayError } from '../errors.js';
import { descendantPids } from '../gpu/process-tree.js';
import { OutputTail } from './output-tail.js';
import type { ExitInfo, Instance, Runtime, RuntimeHealth, StartRequest } from './runtime.js';

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

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

class ProcessInstance implements Instance {
  readonly adopted = false;
  readonly exited: Promise<ExitInfo>;
  private stopRequested = false;
  private done = false;

  constructor(
    readonly endpoint: string,
    private readonly child: ChildProcess,
    private readonly output: OutputTail,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.done = true;
        output.push(`${err.message}\n`);
        resolve({ code: null, signal: null, oomKilled: false, reason: `could not be run (${err.message})`, requested: this.stopRequested });
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
    killGroup(this.child, 'SIGTERM');
    const killed = await Promise.race([
      this.exited.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), graceMs).unref()),
    ]);
    if (!killed) killGroup(this.child, 'SIGKILL');
    await this.exited;
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

export class ProcessRuntime implements Runtime {
  readonly kind = 'process' as const;

  /** @param configDir the folder relative paths in `command` resolve against (the config's folder). */
  constructor(private readonly configDir: string) {}

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
    if (!cmd) throw new GatewayError('model_start_failed', 'The model has an empty command');
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(model.env)) env[k] = sub(v);
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
    const instance = new ProcessInstance(`http://127.0.0.1:${port}`, child, output);
    // The caller may abandon the start; make sure the child goes with it.
    const onAbort = () => void instance.stop(2000);
    req.signal.addEventListener('abort', onAbort, { once: true });
    void instance.exited.then(() => req.signal.removeEventListener('abort', onAbort));
    return instance;
  }
}
