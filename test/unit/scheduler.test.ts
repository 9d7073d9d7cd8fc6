// The scheduler's state machine with a fake runtime and a static GPU: shared starts (P15), start
// failures with cool-down, LRU eviction with the stop finished before the next start (P11), busy
// and pinned models kept (P10), unload, crashes while serving, idle stop and shutdown.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../gateway/errors.js';
import type { Lease } from '../../gateway/scheduler/model-queue.js';
import { fakeClock, fakeModel, makeScheduler, never, settle } from './scheduler-fakes.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0)) await c();
});

async function setup(models: string, opts: Parameters<typeof makeScheduler>[1] = {}) {
  const s = await makeScheduler(models, opts);
  cleanups.push(async () => {
    await s.scheduler.shutdown(0, true);
    await s.runtime.close();
  });
  return s;
}

const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: GatewayError) => e.code,
  );
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('starts', () => {
  it('concurrent admits share one start and all get leases once healthy (P15)', async () => {
    const { scheduler, runtime, entry } = await setup(fakeModel('m', 4));
    runtime.autoHealthy = false;
    const e = entry('m');
    const admits = [1, 2, 3].map((i) => scheduler.admit(e, `r${i}`, never()));
    await tick(20);
    expect(e.state).toBe('starting');
    expect(e.queue.queued).toBe(3);
    expect(runtime.events).toEqual(['start m']);
    runtime.latest('m')!.healthy = true;
    const leases = await Promise.all(admits);
    expect(e.state).toBe('ready');
    expect(leases.map((l) => l.requestId)).toEqual(['r1', 'r2', 'r3']);
    expect(e.queue.inFlight.size).toBe(3);
    for (const l of leases) scheduler.release(e, l);
    expect([e.queue.inFlight.size, e.queue.queued]).toEqual([0, 0]);
    await scheduler.load(e); // already ready: no new start
    expect(runtime.events).toEqual(['start m']);
  });

  it('a server that exits while starting fails the waiters with its output, then cools down', async () => {
    let now = 1_000_000;
    const { scheduler, runtime, entry } = await setup(fakeModel('m', 4), { now: () => now });
    runtime.autoHealthy = false;
    const e = entry('m');
    const a = scheduler.admit(e, 'a', never());
    const b = scheduler.admit(e, 'b', never());
    await tick(20);
    runtime.latest('m')!.crash('torch.OutOfMemoryError: CUDA out of memory');
    for (const p of [a, b]) {
      const err = await p.catch((x: GatewayError) => x);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('model_start_failed');
      expect((err as GatewayError).message).toContain('CUDA out of memory');
    }
    expect(e.state).toBe('failed');
    expect(e.gpuIndices).toEqual([]);
    expect([e.queue.inFlight.size, e.queue.queued]).toEqual([0, 0]);
    // Cool-down: refused at once, with Retry-After, no new start.
    const cooling = await scheduler.admit(e, 'c', never()).catch((x: GatewayError) => x);
    expect((cooling as GatewayError).code).toBe('model_cooling_down');
    expect((cooling as GatewayError).retryAfter).toBe(10);
    expect(await codeOf(scheduler.load(e))).toBe('model_cooling_down');
    expect(runtime.events).toEqual(['start m', 'exit m#0']);
    // After 10 s it may start again.
    now += 10_001;
    runtime.autoHealthy = true;
    const lease = await scheduler.admit(e, 'd', never());
    expect(e.state).toBe('ready');
    scheduler.release(e, lease);
  });

  it('a runtime that cannot start fails with model_start_failed', async () => {
    const { scheduler, runtime, entry } = await setup(fakeModel('m', 4));
    runtime.failStart = 'docker: no such image';
    const err = await scheduler.admit(entry('m'), 'a', never()).catch((x: GatewayError) => x);
    expect((err as GatewayError).code).toBe('model_start_failed');
    expect((err as GatewayError).message).toContain('no such image');
    expect(entry('m').state).toBe('failed');
  });

  it('a request whose client goes away leaves the queue at once; the start goes on', async () => {
    const { scheduler, runtime, entry } = await setup(fakeModel('m', 4));
    runtime.autoHealthy = false;
    const e = entry('m');
    const ac = new AbortController();
    const p = scheduler.admit(e, 'gone', ac.signal);
    await tick(10);
    expect(e.queue.queued).toBe(1);
    ac.abort();
    expect(await codeOf(p)).toBe('client_gone');
    expect(e.queue.queued).toBe(0);
    expect(e.state).toBe('starting');
    runtime.latest('m')!.healthy = true;
    await scheduler.load(e);
    expect(e.state).toBe('ready');
  });

  it('an already aborted signal never joins', async () => {
    const { scheduler, entry } = await setup(fakeModel('m', 4));
    const ac = new AbortController();
    ac.abort();
    expect(await codeOf(scheduler.admit(entry('m'), 'x', ac.signal))).toBe('client_gone');
    expect(entry('m').queue.queued).toBe(0);
  });
});

describe('placement and eviction', () => {
  const three = [fakeModel('a', 10), fakeModel('b', 10), fakeModel('c', 10)].join('\n');

  it('evicts the least recently used idle model, its stop finished before the next start (P11)', async () => {
    const { scheduler, runtime, entry } = await setup(three);
    await scheduler.load(entry('a'));
    await scheduler.load(entry('b'));
    const l = await scheduler.admit(entry('b'), 'use-b', never());
    scheduler.release(entry('b'), l);
    await scheduler.load(entry('c'));
    expect(runtime.events).toEqual(['start a', 'start b', 'stop a#0', 'start c']);
    expect(entry('a').state).toBe('stopped');
    expect(entry('a').gpuIndices).toEqual([]);
    expect([entry('b').state, entry('c').state]).toEqual(['ready', 'ready']);
    expect(scheduler.evictions).toBe(1);
  });

  it('never evicts a model with requests in flight (P10)', async () => {
    const { scheduler, runtime, entry } = await setup(three);
    await scheduler.load(entry('a'));
    await scheduler.load(entry('b'));
    const busy = await scheduler.admit(entry('a'), 'busy-a', never()); // a is LRU but busy
    await scheduler.load(entry('c'));
    expect(runtime.events).toEqual(['start a', 'start b', 'stop b#1', 'start c']);
    expect(busy.signal.aborted).toBe(false);
    scheduler.release(entry('a'), busy);
  });

  it('never evicts a pinned model; with everything pinned → insufficient_vram at once, no start', async () => {
    const { scheduler, runtime, entry } = await setup(
      [fakeModel('a', 10, 'pinned: true'), fakeModel('b', 10, 'pinned: true'), fakeModel('c', 10)].join('\n'),
    );
    await scheduler.load(entry('a'));
    await scheduler.load(entry('b'));
    expect(await codeOf(scheduler.load(entry('c')))).toBe('insufficient_vram');
    expect(runtime.events).toEqual(['start a', 'start b']);
    expect(entry('c').state).toBe('stopped'); // no cool-down for a placement refusal
    expect(await codeOf(scheduler.admit(entry('c'), 'x', never()))).toBe('insufficient_vram');
  });

  it('with everything busy, a request waits out the queue timeout and gets queue_timeout', async () => {
    const clock = fakeClock();
    const { scheduler, runtime, entry } = await setup(three, {
      extra: 'limits: { queueTimeoutSeconds: 1 }\nscheduling: { swapAfterSeconds: 0 }',
      ...clock,
    });
    await scheduler.load(entry('a'));
    await scheduler.load(entry('b'));
    const la = await scheduler.admit(entry('a'), 'la', never());
    const lb = await scheduler.admit(entry('b'), 'lb', never());
    const c = codeOf(scheduler.admit(entry('c'), 'c', never()));
    await vi.advanceTimersByTimeAsync(1000);
    expect(await c).toBe('queue_timeout');
    expect(runtime.events).toEqual(['start a', 'start b']);
    // The abandoned start gives up too (state back to stopped, no cool-down).
    await settle();
    expect(entry('c').state).toBe('stopped');
    expect(entry('c').error).toMatch(/GPU memory/);
    // Once one is idle (nothing in flight or queued for 0.5 s), the next start evicts it.
    scheduler.release(entry('b'), lb);
    const c2 = scheduler.admit(entry('c'), 'c2', never());
    await vi.advanceTimersByTimeAsync(499);
    await settle();
    expect(runtime.events).toEqual(['start a', 'start b']);
    await vi.advanceTimersByTimeAsync(1);
    const lc = await c2;
    expect(runtime.events).toEqual(['start a', 'start b', 'stop b#1', 'start c']);
    scheduler.release(entry('a'), la);
    scheduler.release(entry('c'), lc);
  });
});

describe('a start waiting for GPU memory', () => {
  const three = [fakeModel('a', 10), fakeModel('b', 10), fakeModel('c', 10)].join('\n');

  it('gives up when every request waiting for it has gone (no place in line held for nobody)', async () => {
    const { scheduler, runtime, entry } = await setup(three, { extra: 'limits: { queueTimeoutSeconds: 30 }' });
    await scheduler.load(entry('a'));
    await scheduler.load(entry('b'));
    const la = await scheduler.admit(entry('a'), 'la', never());
    const lb = await scheduler.admit(entry('b'), 'lb', never());
    const client = new AbortController();
    const waiting = codeOf(scheduler.admit(entry('c'), 'c', client.signal));
    for (let i = 0; i < 100 && entry('c').vramWait === null; i++) await tick(10);
    expect(entry('c').vramWait).not.toBeNull(); // c's start is waiting for a and b to be idle
    client.abort();
    expect(await waiting).toBe('client_gone');
    for (let i = 0; i < 300 && entry('c').state !== 'stopped'; i++) await tick(10);
    expect(entry('c').state).toBe('stopped'); // its start is over, well before the 30 s deadline
    expect(entry('c').error).toMatch(/no request waits for it/);
    expect(runtime.events).toEqual(['start a', 'start b']);
    scheduler.release(entry('a'), la);
    scheduler.release(entry('b'), lb);
  });

  it('keeps waiting while a load() waits for it, up to the queue timeout', async () => {
    const clock = fakeClock();
    const { scheduler, runtime, entry } = await setup(three, {
      extra: 'limits: { queueTimeoutSeconds: 30 }\nscheduling: { swapAfterSeconds: 0 }',
      ...clock,
    });
    await scheduler.load(entry('a'));
    await scheduler.load(entry('b'));
    const la = await scheduler.admit(entry('a'), 'la', never());
    const lb = await scheduler.admit(entry('b'), 'lb', never());
    const loading = scheduler.load(entry('c'));
    await settle();
    expect(entry('c').vramWait).not.toBeNull();
    await vi.advanceTimersByTimeAsync(29_000); // far into the queue timeout: still waiting, not abandoned
    expect(entry('c').state).toBe('starting');
    expect(entry('c').memoryWait?.blockedBy).toEqual(['a', 'b']);
    scheduler.release(entry('b'), lb); // b goes idle: 0.5 s later c evicts it and starts
    await vi.advanceTimersByTimeAsync(500);
    await loading;
    expect(entry('c').state).toBe('ready');
    expect(runtime.events).toEqual(['start a', 'start b', 'stop b#1', 'start c']);
    scheduler.release(entry('a'), la);
  });

  it('a load gives up with queue_timeout when the queue timeout passes (not insufficient_vram: it could fit)', async () => {
    const clock = fakeClock();
    const { scheduler, runtime, entry } = await setup(three, {
      extra: 'limits: { queueTimeoutSeconds: 30 }\nscheduling: { swapAfterSeconds: 0 }',
      ...clock,
    });
    await scheduler.load(entry('a'));
    await scheduler.load(entry('b'));
    const la = await scheduler.admit(entry('a'), 'la', never());
    const lb = await scheduler.admit(entry('b'), 'lb', never());
    const loading = codeOf(scheduler.load(entry('c')));
    await settle();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(await loading).toBe('queue_timeout');
    expect(entry('c').state).toBe('stopped');
    expect(entry('c').error).toMatch(/^Waited 30 s for GPU memory for c: needs 10\.0 GiB; models in use hold the rest$/);
    expect(runtime.events).toEqual(['start a', 'start b']);
    scheduler.release(entry('a'), la);
    scheduler.release(entry('b'), lb);
  });
});

describe('unload, crashes, idle, shutdown', () => {
  it('unload: model_busy while busy; force cuts in-flight and queued requests with model_stopped', async () => {
    const { scheduler, runtime, entry } = await setup(fakeModel('m', 4, 'maxConcurrent: 1'));
    const e = entry('m');
    const lease = await scheduler.admit(e, 'in', never());
    const waiting = scheduler.admit(e, 'wait', never());
    await tick(5);
    expect(await codeOf(scheduler.unload(e, false))).toBe('model_busy');
    expect(e.state).toBe('ready');
    await scheduler.unload(e, true);
    expect(e.state).toBe('stopped');
    expect(lease.signal.aborted).toBe(true);
    expect((lease.signal.reason as GatewayError).code).toBe('model_stopped');
    expect(await codeOf(waiting)).toBe('model_stopped');
    scheduler.release(e, lease);
    expect([e.queue.inFlight.size, e.queue.queued]).toEqual([0, 0]);
    expect(runtime.latest('m')!.stopped).toBe(true);
  });

  it('a server that dies while serving: stopped (no cool-down), in-flight cut, the next request restarts it', async () => {
    const { scheduler, runtime, entry } = await setup(fakeModel('m', 4));
    const e = entry('m');
    const lease = await scheduler.admit(e, 'in', never());
    runtime.latest('m')!.crash();
    await tick(5);
    expect(e.state).toBe('stopped');
    expect(e.error).toMatch(/exited with code 1/);
    expect(lease.signal.aborted).toBe(true);
    scheduler.release(e, lease);
    const again = await scheduler.admit(e, 'again', never());
    expect(runtime.events.filter((x) => x.startsWith('start'))).toHaveLength(2);
    scheduler.release(e, again);
  });

  it('stops a model exactly ttlSeconds after its last request ended, never while a lease is held (P10)', async () => {
    const clock = fakeClock();
    const { scheduler, runtime, entry } = await setup(fakeModel('m', 4, 'ttlSeconds: 0.1'), clock);
    const e = entry('m');
    const lease = await scheduler.admit(e, 'long', never());
    await vi.advanceTimersByTimeAsync(250); // held past the TTL
    expect(e.state).toBe('ready');
    scheduler.release(e, lease);
    await vi.advanceTimersByTimeAsync(99);
    await settle();
    expect(e.state).toBe('ready');
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(e.state).toBe('stopped');
    expect(runtime.latest('m')!.stopped).toBe(true);
  });

  it('a model never used since it became ready stops ttlSeconds after that', async () => {
    const clock = fakeClock();
    const { scheduler, entry } = await setup(fakeModel('m', 4, 'ttlSeconds: 0.1'), clock);
    await scheduler.load(entry('m'));
    await vi.advanceTimersByTimeAsync(99);
    await settle();
    expect(entry('m').state).toBe('ready');
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(entry('m').state).toBe('stopped');
  });

  it('pinned models are not stopped for idleness', async () => {
    const clock = fakeClock();
    const { scheduler, entry } = await setup(fakeModel('m', 4, 'ttlSeconds: 0.05, pinned: true'), clock);
    await scheduler.load(entry('m'));
    await vi.advanceTimersByTimeAsync(3_600_000);
    await settle();
    expect(entry('m').state).toBe('ready');
  });

  it('preload models start at init', async () => {
    const { runtime, entry } = await setup([fakeModel('p', 4, 'preload: true'), fakeModel('q', 4)].join('\n'));
    await tick(100);
    expect(entry('p').state).toBe('ready');
    expect(entry('q').state).toBe('stopped');
    expect(runtime.events).toEqual(['start p']);
  });

  it('shutdown: refuses new work, rejects waiters, drains leases, stops models', async () => {
    const { scheduler, runtime, entry } = await setup(fakeModel('m', 4, 'maxConcurrent: 1'));
    const e = entry('m');
    const lease = await scheduler.admit(e, 'in', never());
    const waiting = scheduler.admit(e, 'wait', never());
    await tick(5);
    const done = scheduler.shutdown(2000, true);
    expect(await codeOf(waiting)).toBe('shutting_down');
    expect(await codeOf(scheduler.admit(e, 'new', never()))).toBe('shutting_down');
    expect(await codeOf(scheduler.load(e))).toBe('shutting_down');
    await tick(50);
    expect(runtime.latest('m')!.stopped).toBe(false); // still draining
    scheduler.release(e, lease);
    await done;
    expect(lease.signal.aborted).toBe(false); // finished within the drain, never cut
    expect(runtime.latest('m')!.stopped).toBe(true);
    expect(e.state).toBe('stopped');
  });

  it('shutdown cuts what is left at the end of the drain, not before and not later', async () => {
    const clock = fakeClock();
    const { scheduler, runtime, entry } = await setup(fakeModel('m', 4), clock);
    const lease: Lease = await scheduler.admit(entry('m'), 'in', never());
    const done = scheduler.shutdown(2000, true);
    await vi.advanceTimersByTimeAsync(1999);
    expect(lease.signal.aborted).toBe(false);
    expect(runtime.latest('m')!.stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(lease.signal.aborted).toBe(true);
    expect((lease.signal.reason as GatewayError).code).toBe('shutting_down');
    scheduler.release(entry('m'), lease);
    await done;
    expect(runtime.latest('m')!.stopped).toBe(true);
  });
});

describe('turn-taking (scheduling.swapAfterSeconds)', () => {
  const two = [fakeModel('a', 14), fakeModel('b', 14)].join('\n');
  const extra = 'limits: { queueTimeoutSeconds: 600 }\nscheduling: { swapAfterSeconds: 30 }';

  it('a busy model yields 30 s after it became ready: no new requests, in flight finished, queue kept for its turn back', async () => {
    const clock = fakeClock();
    const { scheduler, runtime, entry } = await setup(two, { extra, ...clock });
    const a = entry('a');
    const b = entry('b');
    const la1 = await scheduler.admit(a, 'a1', never());
    await vi.advanceTimersByTimeAsync(10_000);
    const bReq = scheduler.admit(b, 'b1', never()); // needs a's memory; a is busy
    await settle();
    expect(b.memoryWait?.blockedBy).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(19_999);
    await settle();
    expect(a.yieldingTo).toBeNull();
    await vi.advanceTimersByTimeAsync(1); // a has been ready for 30 s
    await settle();
    expect(a.yieldingTo).toBe('b');
    expect(a.toStatus()).toMatchObject({ yielding: true, yieldingTo: 'b', state: 'ready' });
    expect(b.toStatus().waitingForMemory).toMatchObject({ blockedBy: ['a'], reason: 'waiting for a to finish and yield' });
    // It takes no new request: a2 queues although a slot is free.
    const a2 = scheduler.admit(a, 'a2', never());
    await settle();
    expect([a.queue.inFlight.size, a.queue.queued]).toEqual([1, 1]);
    expect(runtime.events).toEqual(['start a']);
    // Its last request in flight ends: evicted, a2 still queued (not failed); b starts.
    scheduler.release(a, la1);
    const lb = await bReq;
    expect(runtime.events).toEqual(['start a', 'stop a#0', 'start b']);
    expect([a.state, a.queue.queued, a.yieldingTo]).toEqual(['starting', 1, null]); // a's start waits for its turn back
    expect(a.toStatus().waitingForMemory?.blockedBy).toEqual(['b']);
    // b serves; once idle (0.5 s after its request), a gets its turn back: b evicted, a2 granted.
    scheduler.release(b, lb);
    await vi.advanceTimersByTimeAsync(500);
    const la2 = await a2;
    expect(runtime.events).toEqual(['start a', 'stop a#0', 'start b', 'stop b#1', 'start a']);
    expect(la2.requestId).toBe('a2');
    scheduler.release(a, la2);
  });

  it('swapAfterSeconds 0: a busy model is never displaced; the waiting request times out', async () => {
    const clock = fakeClock();
    const { scheduler, runtime, entry } = await setup(two, {
      extra: 'limits: { queueTimeoutSeconds: 60 }\nscheduling: { swapAfterSeconds: 0 }',
      ...clock,
    });
    const la = await scheduler.admit(entry('a'), 'a1', never());
    const b = codeOf(scheduler.admit(entry('b'), 'b1', never()));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await b).toBe('queue_timeout');
    expect(entry('a').yieldingTo).toBeNull();
    expect(runtime.events).toEqual(['start a']);
    scheduler.release(entry('a'), la);
  });

  it('a yield no longer needed is withdrawn: the waiting request went away, the yielder serves its queue again', async () => {
    const clock = fakeClock();
    const { scheduler, runtime, entry } = await setup(two, { extra, ...clock });
    const a = entry('a');
    const la1 = await scheduler.admit(a, 'a1', never());
    await vi.advanceTimersByTimeAsync(30_000);
    const client = new AbortController();
    const bReq = codeOf(scheduler.admit(entry('b'), 'b1', client.signal));
    await settle();
    expect(a.yieldingTo).toBe('b');
    const a2 = scheduler.admit(a, 'a2', never());
    await settle();
    expect(a.queue.queued).toBe(1);
    client.abort();
    expect(await bReq).toBe('client_gone');
    const la2 = await a2; // a takes requests again
    expect(a.yieldingTo).toBeNull();
    expect(runtime.events).toEqual(['start a']);
    scheduler.release(a, la1);
    scheduler.release(a, la2);
  });

  it("the livelock: the yielded model's own late requests do not take the memory back from the waiting start", async () => {
    const clock = fakeClock();
    const { scheduler, runtime, entry } = await setup(two, { extra, ...clock });
    const a = entry('a');
    const b = entry('b');
    const la1 = await scheduler.admit(a, 'a1', never());
    await vi.advanceTimersByTimeAsync(30_000);
    runtime.autoHealthy = false; // b's start takes a while
    const bReq = scheduler.admit(b, 'b1', never());
    await settle();
    scheduler.release(a, la1); // a yields and is evicted at once (nothing else in flight)
    await settle();
    expect(runtime.events).toEqual(['start a', 'stop a#0', 'start b']);
    // a's clients come straight back while b is still starting: they wait; a is not restarted.
    const a2 = scheduler.admit(a, 'a2', never());
    const a3 = scheduler.admit(a, 'a3', never());
    await settle();
    expect(runtime.events).toEqual(['start a', 'stop a#0', 'start b']);
    expect([a.state, a.queue.queued]).toEqual(['starting', 2]);
    runtime.latest('b')!.healthy = true;
    const lb = await bReq;
    scheduler.release(b, lb);
    runtime.autoHealthy = true;
    await vi.advanceTimersByTimeAsync(500);
    const [l2, l3] = await Promise.all([a2, a3]);
    expect(runtime.events).toEqual(['start a', 'stop a#0', 'start b', 'stop b#1', 'start a']);
    scheduler.release(a, l2);
    scheduler.release(a, l3);
  });
});

describe('adoption', () => {
  it('books an adopted server on the GPUs it runs on, and places the next start around it', async () => {
    const { scheduler, runtime, entry } = await setup([fakeModel('a', 20), fakeModel('b', 20)].join('\n'), {
      extra: 'gpu: { probe: static, reserveGiB: 0.5, static: [{ name: "G0", totalGiB: 24 }, { name: "G1", totalGiB: 24 }] }',
      leftovers: { a: [1] },
    });
    expect([entry('a').state, entry('a').gpuIndices]).toEqual(['ready', [1]]);
    expect(entry('a').toStatus().gpus).toEqual([1]);
    await scheduler.load(entry('b'));
    expect(entry('b').gpuIndices).toEqual([0]); // GPU 1 is taken: no eviction needed
    expect(runtime.events).toEqual(['adopt a', 'start b']);
  });
});
