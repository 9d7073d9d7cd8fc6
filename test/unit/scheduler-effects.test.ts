// The scheduler against a fake Effects (gateway/scheduler/effects.ts): no server, no HTTP. Every
// start, health wait, stop, sleep and wake goes through the seam, in the order the lifecycle asks
// for it; a wake or sleep that fails through it stops the server (and a failed wake starts anew).
// Slots reach waiting requests only through its grant, and GPU attribution reads the servers'
// PIDs only through its scrapePids.

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GpuProbe, GpuSnapshot } from '../../gateway/gpu/probe.js';
import { StaticProbe, staticGpuReadings } from '../../gateway/gpu/static-probe.js';
import { silentLogger } from '../../gateway/logger.js';
import type { ExitInfo, Instance, Runtime } from '../../gateway/runtimes/runtime.js';
import type { Effects } from '../../gateway/scheduler/effects.js';
import type { ModelQueue } from '../../gateway/scheduler/model-queue.js';
import { Scheduler } from '../../gateway/scheduler/scheduler.js';
import { configFrom, fakeModel, never } from './scheduler-fakes.js';

/** An instance nothing answers for: the seam must never let the scheduler reach it. */
function deadInstance(n: number): Instance & { exit(info: ExitInfo): void } {
  let exit!: (info: ExitInfo) => void;
  const fail = () => Promise.reject(new Error('the scheduler went around Effects'));
  return {
    endpoint: `http://127.0.0.1:9/${n}`,
    exited: new Promise<ExitInfo>((r) => (exit = r)),
    exit: (info) => exit(info),
    stop: fail,
    logs: async () => '',
    pids: fail,
    sleep: fail,
    wake: fail,
    sleepingLevel: fail,
  };
}

function fakeEffects() {
  const calls: string[] = [];
  const instances: Array<ReturnType<typeof deadInstance>> = [];
  const fail = new Set<'sleep' | 'wake'>();
  /** While set, grants are held here instead of handed out: `letGrantsGo()` hands them out. */
  const grants = { hold: false, held: new Set<ModelQueue>(), handed: 0 };
  const letGrantsGo = () => {
    grants.hold = false;
    for (const q of grants.held) q.grant();
    grants.held.clear();
  };
  const effects: Effects = {
    start: async (_runtime, req) => {
      const inst = deadInstance(instances.length);
      instances.push(inst);
      calls.push(`start ${req.model.id} on ${req.gpuIndices.join(',')}`);
      return inst;
    },
    waitHealthy: async (inst) => void calls.push(`healthy ${inst.endpoint.slice(-1)}`),
    stop: async (inst) => {
      calls.push(`stop ${inst.endpoint.slice(-1)}`);
      instances[Number(inst.endpoint.slice(-1))].exit({ code: 0, signal: null, oomKilled: false, reason: 'stopped', requested: true });
    },
    sleep: async (inst, level) => {
      calls.push(`sleep ${inst.endpoint.slice(-1)} level ${level}`);
      if (fail.has('sleep')) throw new Error('POST /sleep?level=1 answered 500');
    },
    wake: async (inst, level, opts) => {
      calls.push(`wake ${inst.endpoint.slice(-1)} level ${level}`);
      opts.onStep?.('wake', 0, 2);
      if (fail.has('wake')) throw new Error('POST /wake_up answered 500');
    },
    sleepingLevel: async () => null,
    grant: (queue) => {
      if (grants.hold) return void grants.held.add(queue);
      const before = queue.queued;
      queue.grant();
      grants.handed += before - queue.queued;
    },
    scrapePids: async (inst) => {
      calls.push(`pids ${inst.endpoint.slice(-1)}`);
      return [4200 + Number(inst.endpoint.slice(-1))];
    },
  };
  return { effects, calls, fail, grants, letGrantsGo };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A probe that measures: its readings are the ones the test emits. */
class MeasuredProbe implements GpuProbe {
  readonly kind = 'nvidia-smi' as const;
  private snapshot: GpuSnapshot;
  private readonly listeners = new Set<(s: GpuSnapshot) => void>();
  constructor(specs: ReadonlyArray<{ name: string; totalGiB: number }>) {
    this.snapshot = { at: Date.now(), gpus: staticGpuReadings(specs), processes: [], measured: true };
  }
  start(): void {}
  stop(): void {}
  state() {
    return { snapshot: this.snapshot, error: null, pollMs: 1 };
  }
  async refresh(): Promise<GpuSnapshot> {
    return this.snapshot;
  }
  onReading(cb: (s: GpuSnapshot) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
  emit(processes: GpuSnapshot['processes']): void {
    this.snapshot = { ...this.snapshot, at: Date.now(), processes };
    for (const cb of this.listeners) cb(this.snapshot);
  }
}

async function setup(opts: { measured?: boolean } = {}) {
  const config = configFrom(
    [
      fakeModel('a', 8, 'args: ["--enable-sleep-mode"], sleep: { level: 1 }, maxConcurrent: 1'),
      '  r: { runtime: remote, url: "http://127.0.0.1:9" }',
    ].join('\n'),
    'scheduling: { sleepHostRamGiB: 64 }',
  );
  const runtime: Runtime = {
    kind: 'process',
    start: () => Promise.reject(new Error('the scheduler went around Effects')),
    health: async () => ({ ok: true, reason: null }),
  };
  const fx = fakeEffects();
  const probe = opts.measured ? new MeasuredProbe(config.gpu.static) : null;
  const scheduler = new Scheduler({
    config,
    runtimes: { process: runtime },
    gpu: probe ?? new StaticProbe(config.gpu.static),
    log: silentLogger,
    effects: fx.effects,
  });
  await scheduler.init();
  cleanups.push(() => scheduler.shutdown(0, true));
  return { scheduler, probe, a: scheduler.entries.get('a')!, r: scheduler.entries.get('r')!, ...fx };
}

describe('the scheduler through a fake Effects', () => {
  it('starts, sleeps by hand and wakes for the next request, each through the seam', async () => {
    const { scheduler, a, calls } = await setup();
    const l1 = await scheduler.admit(a, 'r1', never());
    expect([a.state, calls]).toEqual(['ready', ['start a on 0', 'healthy 0']]);
    scheduler.release(a, l1);
    await scheduler.sleep(a);
    expect([a.state, a.sleptLevel, scheduler.sleeps]).toEqual(['sleeping', 1, 1]);
    const l2 = await scheduler.admit(a, 'r2', never());
    expect([a.state, scheduler.wakes, a.instance?.endpoint]).toEqual(['ready', 1, 'http://127.0.0.1:9/0']);
    expect(calls).toEqual(['start a on 0', 'healthy 0', 'sleep 0 level 1', 'wake 0 level 1']);
    scheduler.release(a, l2);
  });

  it('a wake that fails stops the server and starts the model anew', async () => {
    const { scheduler, a, calls, fail } = await setup();
    await scheduler.load(a);
    await scheduler.sleep(a);
    fail.add('wake');
    const lease = await scheduler.admit(a, 'r', never());
    expect(calls).toEqual(['start a on 0', 'healthy 0', 'sleep 0 level 1', 'wake 0 level 1', 'stop 0', 'start a on 0', 'healthy 1']);
    expect([a.state, a.instance?.endpoint]).toEqual(['ready', 'http://127.0.0.1:9/1']);
    scheduler.release(a, lease);
  });

  it('a sleep that fails stops the server, and says so', async () => {
    const { scheduler, a, calls, fail } = await setup();
    await scheduler.load(a);
    fail.add('sleep');
    await expect(scheduler.sleep(a)).rejects.toThrow(
      /did not go to sleep: The model server did not go to sleep \(POST \/sleep\?level=1 answered 500\)/,
    );
    expect([a.state, a.instance, calls.at(-1)]).toEqual(['stopped', null, 'stop 0']);
  });

  it("shutdown cuts a remote model's requests and stops the local ones; a remote model gets no lifecycle event", async () => {
    const { scheduler, a, r, calls } = await setup();
    await scheduler.load(a);
    const lease = await scheduler.admit(r, 'remote-1', never());
    await scheduler.shutdown(0, true);
    expect([lease.signal.aborted, r.state, a.state, calls.at(-1)]).toEqual([true, 'ready', 'stopped', 'stop 0']);
  });

  it('hands slots to waiting requests only through grant: held back, the request waits on a ready model', async () => {
    const { scheduler, a, grants, letGrantsGo } = await setup();
    grants.hold = true;
    let lease: Awaited<ReturnType<typeof scheduler.admit>> | null = null;
    const admitted = scheduler.admit(a, 'waits', never()).then((l) => (lease = l));
    await vi.waitFor(() => expect(a.state).toBe('ready'));
    await new Promise((r) => setImmediate(r));
    expect([lease, a.queue.queued, a.queue.inFlight.size, grants.held.has(a.queue)]).toEqual([null, 1, 0, true]);
    letGrantsGo();
    await admitted;
    expect([lease!.requestId, a.queue.queued, a.queue.inFlight.size]).toEqual(['waits', 0, 1]);
    // A slot freed while it serves goes to the next waiter through the seam too.
    const next = scheduler.admit(a, 'next', never());
    expect(a.queue.queued).toBe(1);
    scheduler.release(a, lease!);
    expect((await next).requestId).toBe('next');
    expect(grants.handed).toBe(1);
  });

  it("reads a server's PIDs for GPU attribution only through scrapePids, with each measured reading", async () => {
    const { scheduler, probe, a, calls } = await setup({ measured: true });
    probe!.emit([]); // the first measured reading, with no server yet: placement may go on
    await scheduler.load(a);
    expect(scheduler.managedModels().get('a')!.pids.size).toBe(0); // nothing read before a reading
    probe!.emit([{ pid: 4200, gpuIndex: 0, usedMiB: 7000 }]);
    await vi.waitFor(() => expect([...scheduler.managedModels().get('a')!.pids]).toEqual([4200]));
    expect(calls).toEqual(['start a on 0', 'healthy 0', 'pids 0']);
  });
});
