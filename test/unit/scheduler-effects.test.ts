// The scheduler against a fake Effects (gateway/scheduler/effects.ts): no server, no HTTP. Every
// start, health wait, stop, sleep and wake goes through the seam, in the order the lifecycle asks
// for it; a wake or sleep that fails through it stops the server (and a failed wake starts anew).

import { afterEach, describe, expect, it } from 'vitest';
import { StaticProbe } from '../../gateway/gpu/static-probe.js';
import { silentLogger } from '../../gateway/logger.js';
import type { ExitInfo, Instance, Runtime } from '../../gateway/runtimes/runtime.js';
import type { Effects } from '../../gateway/scheduler/effects.js';
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
    pids: async () => [],
    sleep: fail,
    wake: fail,
    sleepingLevel: fail,
  };
}

function fakeEffects() {
  const calls: string[] = [];
  const instances: Array<ReturnType<typeof deadInstance>> = [];
  const fail = new Set<'sleep' | 'wake'>();
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
  };
  return { effects, calls, fail };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const config = configFrom(
    [fakeModel('a', 8, 'args: ["--enable-sleep-mode"], sleep: { level: 1 }'), '  r: { runtime: remote, url: "http://127.0.0.1:9" }'].join(
      '\n',
    ),
    'scheduling: { sleepHostRamGiB: 64 }',
  );
  const runtime: Runtime = {
    kind: 'process',
    start: () => Promise.reject(new Error('the scheduler went around Effects')),
    health: async () => ({ ok: true, reason: null }),
  };
  const fx = fakeEffects();
  const scheduler = new Scheduler({
    config,
    runtimes: { process: runtime },
    gpu: new StaticProbe(config.gpu.static),
    log: silentLogger,
    effects: fx.effects,
  });
  await scheduler.init();
  cleanups.push(() => scheduler.shutdown(0, true));
  return { scheduler, a: scheduler.entries.get('a')!, r: scheduler.entries.get('r')!, ...fx };
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
});
