// The per-model queue (pure): FIFO of waiters, maxConcurrent leases, counts as live sets. Its bound
// is admission's rule (admission.test.ts).

import { describe, expect, it } from 'vitest';
import { errors, GatewayError } from '../../gateway/errors.js';
import { ModelQueue, type Lease } from '../../gateway/scheduler/model-queue.js';

function queue(maxConcurrent = 2) {
  let changes = 0;
  const q = new ModelQueue({ maxConcurrent }, () => changes++);
  return { q, changes: () => changes };
}
const settled = async <T>(p: Promise<T>) => {
  let v: { ok: boolean; value?: T; err?: unknown } | null = null;
  p.then(
    (value) => (v = { ok: true, value }),
    (err) => (v = { ok: false, err }),
  );
  await new Promise((r) => setImmediate(r));
  return v as { ok: boolean; value?: T; err?: unknown } | null;
};

describe('ModelQueue', () => {
  it('leaseNow puts the request in flight at once; grant then fills only the slots left', async () => {
    const { q, changes } = queue(2);
    const now = q.leaseNow('hot');
    expect([now.requestId, q.inFlight.size, q.queued, changes()]).toEqual(['hot', 1, 0, 1]);
    const tickets = ['a', 'b'].map((id) => q.enqueue(id));
    q.grant();
    const [a, b] = await Promise.all(tickets.map((t) => settled(t.granted)));
    expect([a?.ok && (a.value as Lease).requestId, b]).toEqual(['a', null]);
    now.release();
    q.grant();
    expect((await settled(tickets[1].granted))?.ok).toBe(true);
  });

  it('grant with nobody waiting changes nothing and reports no change', () => {
    const { q, changes } = queue(1);
    q.grant();
    const lease = q.leaseNow('a');
    q.grant();
    lease.release();
    q.grant();
    expect([q.inFlight.size, q.queued, changes()]).toEqual([0, 0, 2]); // the lease and its release only
  });

  it('grant hands slots in FIFO order up to maxConcurrent', async () => {
    const { q, changes } = queue(2);
    const tickets = ['a', 'b', 'c'].map((id) => q.enqueue(id));
    q.grant();
    const [a, b, c] = await Promise.all(tickets.map((t) => settled(t.granted)));
    expect(a?.ok && (a.value as Lease).requestId).toBe('a');
    expect(b?.ok && (b.value as Lease).requestId).toBe('b');
    expect(c).toBeNull(); // still waiting
    expect([q.inFlight.size, q.queued, q.busy]).toEqual([2, 1, true]);
    (a!.value as Lease).release();
    q.grant();
    const c2 = await settled(tickets[2].granted);
    expect(c2?.ok && (c2.value as Lease).requestId).toBe('c');
    // One change per enqueue (3), per grant that handed out slots (2) and per release (1).
    expect(changes()).toBe(6);
  });

  it('release is idempotent; counts return to 0', async () => {
    const { q } = queue();
    const t = q.enqueue('a');
    q.grant();
    const lease = await t.granted;
    lease.release();
    lease.release();
    expect([q.inFlight.size, q.queued, q.busy]).toEqual([0, 0, false]);
  });

  it('cancel takes a waiter out and rejects it; cancelling again or after the grant does nothing', async () => {
    const { q } = queue();
    const t = q.enqueue('a');
    t.cancel(new Error('gone'));
    expect(q.queued).toBe(0);
    await expect(t.granted).rejects.toThrow('gone');
    t.cancel(new Error('again'));
    const t2 = q.enqueue('b');
    q.grant();
    const lease = await t2.granted;
    t2.cancel(new Error('late')); // already granted: stays in flight
    expect(q.inFlight.has(lease)).toBe(true);
  });

  it('rejectWaiting rejects every waiter; cutInFlight aborts every lease signal with the reason', async () => {
    const { q } = queue(1);
    const first = q.enqueue('a');
    const rest = [q.enqueue('b'), q.enqueue('c')];
    q.grant();
    const lease = await first.granted;
    const why = new GatewayError('model_stopped', 'unloaded');
    q.rejectWaiting(why);
    for (const r of rest) await expect(r.granted).rejects.toBe(why);
    expect(q.queued).toBe(0);
    q.cutInFlight(why);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toBe(why);
    expect(q.inFlight.size).toBe(1); // it leaves through its own release()
    lease.release();
    expect(q.inFlight.size).toBe(0);
  });

  it('a cancelled waiter whose promise nobody awaits does not become an unhandled rejection', async () => {
    const { q } = queue();
    q.enqueue('a').cancel(new Error('nobody listens'));
    await new Promise((r) => setTimeout(r, 10));
    expect(q.queued).toBe(0);
  });

  it('priority lanes: interactive waiters get slots before batch ones, FIFO within each; counts per class', async () => {
    const { q } = queue(1);
    const order: string[] = [];
    const tickets = [
      q.enqueue('b1', 'batch'),
      q.enqueue('b2', 'batch'),
      q.enqueue('i1', 'interactive'),
      q.enqueue('b3', 'batch'),
      q.enqueue('i2'), // no class given: interactive
    ];
    for (const t of tickets) void t.granted.then((l) => order.push(`${l.requestId}:${l.priority}`));
    expect(q.queuedByPriority).toEqual({ interactive: 2, batch: 3 });
    expect(q.positionOf('i1')).toBe(1);
    expect(q.positionOf('b1')).toBe(3);
    expect(q.servesInteractive).toBe(true);
    for (let i = 0; i < tickets.length; i++) {
      q.grant(); // one slot: one waiter at a time
      await new Promise((r) => setImmediate(r));
      expect(order).toHaveLength(i + 1);
      [...q.inFlight][0].release();
    }
    expect(order).toEqual(['i1:interactive', 'i2:interactive', 'b1:batch', 'b2:batch', 'b3:batch']);
    expect(q.queuedByPriority).toEqual({ interactive: 0, batch: 0 });
  });

  it('servesInteractive: an interactive request waiting or in flight; oldest waiting per class', async () => {
    let now = 1000;
    const q = new ModelQueue(
      { maxConcurrent: 1 },
      () => {},
      () => now,
    );
    const b = q.enqueue('b', 'batch');
    now = 2000;
    const i = q.enqueue('i', 'interactive');
    expect([q.oldestWaitingAt(), q.oldestWaitingAt('batch'), q.oldestWaitingAt('interactive')]).toEqual([1000, 1000, 2000]);
    q.grant(); // i goes first
    const lease = await i.granted;
    expect([q.servesInteractive, q.oldestWaitingAt('interactive')]).toEqual([true, null]);
    expect(q.lastInteractiveEndAt).toBeNull();
    now = 3000;
    lease.release();
    expect(q.lastInteractiveEndAt).toBe(3000);
    q.grant();
    await b.granted;
    expect(q.servesInteractive).toBe(false); // only a batch request in flight
  });

  it('joining with a displaced error takes the place of the batch request that joined last (admission decides when)', async () => {
    const { q } = queue(1);
    const b1 = q.enqueue('b1', 'batch');
    const b2 = q.enqueue('b2', 'batch');
    const took = errors.queueFullDisplaced(2);
    const i1 = q.enqueue('i1', 'interactive', took);
    await expect(b2.granted).rejects.toBe(took);
    expect([q.queued, q.queuedByPriority]).toEqual([2, { interactive: 1, batch: 1 }]);
    q.enqueue('i2', 'interactive', errors.queueFullDisplaced(2)); // takes b1's place
    await expect(b1.granted).rejects.toMatchObject({ code: 'queue_full' });
    q.enqueue('i3', 'interactive', errors.queueFullDisplaced(2)); // no batch request left: nobody leaves
    expect(q.queuedByPriority).toEqual({ interactive: 3, batch: 0 });
    q.grant();
    expect((await i1.granted).requestId).toBe('i1');
  });
});
