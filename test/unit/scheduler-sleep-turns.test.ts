// Sleep as the first eviction tier under turn-taking (docs/scheduling.md): a model with sleep
// enabled that yields its turn (scheduling.swapAfterSeconds) while clients still queue for it is
// put to sleep, not stopped; when its turn comes back it is woken (the same server) and serves the
// queued clients. Fake runtime answering vLLM's sleep API, static GPU, injected clock.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeClock, fakeModel, makeScheduler, never, settle } from './scheduler-fakes.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0)) await c();
});

/** Settle until `cond` holds (the fake servers answer over real sockets), without moving the clock. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await settle(1);
  if (!cond()) throw new Error(`never happened: ${what}`);
}

describe('turn-taking with sleep', () => {
  // 14 + 14 GiB do not fit on 24 GiB; a asleep holds 1 GiB, so b fits beside it.
  const models = [fakeModel('a', 14, 'args: ["--enable-sleep-mode"], sleep: { level: 1, residualGiB: 1 }'), fakeModel('b', 14)].join('\n');
  const extra = 'limits: { queueTimeoutSeconds: 600 }\nscheduling: { swapAfterSeconds: 30, sleepHostRamGiB: 64 }';

  it('a yielding model with queued clients is put to sleep, then woken for them when its turn comes back', async () => {
    const clock = fakeClock();
    const s = await makeScheduler(models, { extra, ...clock });
    cleanups.push(async () => {
      await s.scheduler.shutdown(0, true);
      await s.runtime.close();
    });
    const { scheduler, runtime, entry } = s;
    const a = entry('a');
    const b = entry('b');

    const la1 = await scheduler.admit(a, 'a1', never());
    await vi.advanceTimersByTimeAsync(10_000);
    const bReq = scheduler.admit(b, 'b1', never()); // needs a's memory while a is busy
    await settle();
    expect(b.memoryWait?.blockedBy).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(20_000); // a has been ready for 30 s: it yields to b
    await settle();
    expect(a.yieldingTo).toBe('b');
    const a2 = scheduler.admit(a, 'a2', never()); // queued behind the yield, not failed
    await settle();
    expect([a.queue.inFlight.size, a.queue.queued]).toEqual([1, 1]);

    // Its last request ends: put to sleep (its queue kept), not stopped; b starts beside the residue.
    scheduler.release(a, la1);
    const lb = await bReq;
    expect(runtime.events).toEqual(['start a', 'sleep a#0', 'start b']);
    // Its wake is asked for at once (a2 waits) and waits for its turn back: the server sleeps on.
    expect([a.state, a.queue.queued]).toEqual(['waking', 1]);
    expect(a.toStatus().waitingForMemory?.blockedBy).toEqual(['b']);
    expect(runtime.latest('a')!.stopped).toBe(false);
    expect(runtime.latest('a')!.asleepLevel).toBe(1);
    expect([scheduler.sleeps, scheduler.wakes, scheduler.evictions]).toEqual([1, 0, 0]);

    // A client that comes while a sleeps queues too; nothing is sent to the sleeping server.
    const a3 = scheduler.admit(a, 'a3', never());
    await settle();
    expect(a.queue.queued).toBe(2);
    expect(runtime.events).toEqual(['start a', 'sleep a#0', 'start b']);

    // b serves and goes idle: 0.5 s later a's turn comes back: b stopped, a woken (same server).
    scheduler.release(b, lb);
    await vi.advanceTimersByTimeAsync(500);
    await until(() => a.state === 'ready', 'a awake');
    const [l2, l3] = await Promise.all([a2, a3]);
    expect([l2.requestId, l3.requestId]).toEqual(['a2', 'a3']);
    expect(runtime.events).toEqual(['start a', 'sleep a#0', 'start b', 'stop b#1', 'wake a#0']);
    expect(runtime.instances.filter((i) => i.model === 'a')).toHaveLength(1); // never restarted
    expect(runtime.latest('a')!.asleepLevel).toBe(0);
    expect([scheduler.sleeps, scheduler.wakes]).toEqual([1, 1]);
    expect([a.queue.inFlight.size, a.queue.queued]).toEqual([2, 0]);
    scheduler.release(a, l2);
    scheduler.release(a, l3);
    expect([a.queue.inFlight.size, a.queue.queued, b.queue.queued]).toEqual([0, 0, 0]);
  });
});
