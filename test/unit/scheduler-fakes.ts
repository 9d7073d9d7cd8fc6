// Fakes for the scheduler's unit tests: a Runtime whose instances the test controls (healthy or
// not, exit when told), answering health checks and vLLM's sleep API (POST /sleep?level=L,
// POST /wake_up, GET /is_sleeping; docs/scheduling.md "Sleep mode") from one in-process HTTP server, and a config.

import { createServer, type Server } from 'node:http';
import { vi } from 'vitest';
import { parseConfigText } from '../../gateway/config/load-config.js';
import type { GatewayConfig } from '../../gateway/config/types.js';
import { StaticProbe } from '../../gateway/gpu/static-probe.js';
import { silentLogger } from '../../gateway/logger.js';
import type { ExitInfo, Instance, Runtime, StartRequest } from '../../gateway/runtimes/runtime.js';
import { vllmSleepApi } from '../../gateway/runtimes/vllm-sleep.js';
import { Scheduler } from '../../gateway/scheduler/scheduler.js';

export class FakeInstance implements Instance {
  readonly adopted = false;
  healthy = false;
  stopped = false;
  readonly exited: Promise<ExitInfo>;
  private resolveExit!: (info: ExitInfo) => void;
  output = 'INFO starting fake server\n';
  stopCalls = 0;
  /** Exited on its own; a later stop() has nothing to do. */
  gone = false;
  gpuIndices: readonly number[] | null = null;
  /** The sleep level it sleeps at (POST /sleep), or 0 while awake. */
  asleepLevel = 0;
  // The real sleep API over HTTP, answered by FakeRuntime's server below.
  private readonly sleepApi = vllmSleepApi(() => this.endpoint);
  readonly sleep = this.sleepApi.sleep;
  readonly wake = this.sleepApi.wake;
  readonly sleepingLevel = this.sleepApi.sleepingLevel;

  constructor(
    readonly model: string,
    readonly n: number,
    readonly endpoint: string,
    private readonly events: string[],
  ) {
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  /** The server dies on its own (crash), printing `lastWords`. */
  crash(lastWords = 'RuntimeError: engine died'): void {
    this.gone = true;
    this.output += `${lastWords}\n`;
    this.events.push(`exit ${this.model}#${this.n}`);
    this.resolveExit({ code: 1, signal: null, oomKilled: false, reason: 'exited with code 1', requested: false });
  }

  async stop(): Promise<void> {
    this.stopCalls++;
    if (this.stopped || this.gone) return;
    this.stopped = true;
    this.events.push(`stop ${this.model}#${this.n}`);
    this.resolveExit({ code: 0, signal: null, oomKilled: false, reason: 'exited with code 0', requested: true });
  }

  async logs(tail: number): Promise<string> {
    return this.output.split('\n').filter(Boolean).slice(-tail).join('\n') + '\n';
  }

  async pids(): Promise<number[]> {
    return [];
  }
}

export class FakeRuntime implements Runtime {
  readonly kind = 'process' as const;
  readonly instances: FakeInstance[] = [];
  readonly events: string[] = [];
  /** Set to make the next starts healthy at once. */
  autoHealthy = true;
  failStart: string | null = null;
  private server: Server | null = null;
  private base = '';

  async open(): Promise<void> {
    this.server = createServer((req, res) => {
      const m = /^\/fake\/(\d+)(\/[a-z_]+)(?:\?level=(\d))?$/.exec(req.url ?? '');
      const inst = m ? this.instances[Number(m[1])] : undefined;
      const up = inst !== undefined && inst.healthy && !inst.stopped && !inst.gone;
      const json = (body: object) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      // Sleep and wake take effect before the answer, so /is_sleeping confirms at once.
      if (up && req.method === 'POST' && m![2] === '/sleep') {
        inst.asleepLevel = Number(m![3] ?? 1);
        this.events.push(`sleep ${inst.model}#${inst.n}`);
        return json({});
      }
      if (up && req.method === 'POST' && m![2] === '/wake_up') {
        inst.asleepLevel = 0;
        this.events.push(`wake ${inst.model}#${inst.n}`);
        return json({});
      }
      if (up && m![2] === '/is_sleeping') return json({ is_sleeping: inst.asleepLevel > 0 });
      res.writeHead(up && m![2] === '/health' ? 200 : up ? 404 : 503).end();
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    const addr = this.server.address();
    this.base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  async health() {
    return { ok: true, reason: null };
  }

  async start(req: StartRequest): Promise<FakeInstance> {
    this.events.push(`start ${req.model.id}`);
    if (this.failStart) throw new Error(this.failStart);
    const n = this.instances.length;
    const inst = new FakeInstance(req.model.id, n, `${this.base}/fake/${n}`, this.events);
    inst.healthy = this.autoHealthy;
    this.instances.push(inst);
    req.signal.addEventListener('abort', () => void inst.stop(), { once: true });
    return inst;
  }

  /** Servers "left running by an earlier gateway": model id → the GPUs it runs on. Adopted at init. */
  leftovers = new Map<string, number[]>();

  async reconcile(): Promise<Map<string, Instance>> {
    const adopted = new Map<string, Instance>();
    for (const [id, gpus] of this.leftovers) {
      const n = this.instances.length;
      const inst = new FakeInstance(id, n, `${this.base}/fake/${n}`, this.events);
      inst.healthy = true;
      inst.gpuIndices = gpus;
      this.instances.push(inst);
      this.events.push(`adopt ${id}`);
      adopted.set(id, inst);
    }
    this.leftovers.clear();
    return adopted;
  }

  latest(model: string): FakeInstance | undefined {
    return [...this.instances].reverse().find((i) => i.model === model);
  }
}

export function configFrom(models: string, extra = ''): GatewayConfig {
  const yaml = `
${extra.includes('limits:') ? '' : 'limits: { queueTimeoutSeconds: 2 }'}
${extra.includes('gpu:') ? '' : 'gpu: { probe: static, reserveGiB: 0.5, static: [{ name: "G", totalGiB: 24 }] }'}
${extra}
models:
${models}
`;
  const { config, issues } = parseConfigText(yaml, '<unit>', {});
  if (!config) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return config;
}

/** `  id: { runtime: process, command: ["fake"], vramGiB: N, ... }` */
export const fakeModel = (id: string, vramGiB: number, more = '') =>
  `  ${id}: { runtime: process, command: ["fake"], vramGiB: ${vramGiB}${more ? `, ${more}` : ''} }`;

export async function makeScheduler(
  models: string,
  opts: { extra?: string; now?: () => number; leftovers?: Record<string, number[]> } = {},
) {
  const config = configFrom(models, opts.extra);
  const runtime = new FakeRuntime();
  await runtime.open();
  for (const [id, gpus] of Object.entries(opts.leftovers ?? {})) runtime.leftovers.set(id, gpus);
  const gpu = new StaticProbe(config.gpu.static);
  const scheduler = new Scheduler({ config, runtimes: { process: runtime }, gpu, log: silentLogger, now: opts.now });
  await scheduler.init();
  const entry = (id: string) => scheduler.entries.get(id)!;
  return { config, runtime, scheduler, entry };
}

export const never = () => new AbortController().signal;

/**
 * Fake setTimeout and Date (the scheduler's clock is `Date.now()` through `now`), real I/O and
 * setImmediate: the fake runtime's servers still answer; time moves only when told.
 */
export function fakeClock(): { now: () => number } {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  return { now: () => Date.now() };
}

/** Let promise chains and setImmediate callbacks run (no time passes). */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
