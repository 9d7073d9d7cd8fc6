// The one quit path: idempotent, waits for a start in progress, closes a gateway whose listen
// failed, a second request cuts the drain short (models still stopped), urgent reasons skip it.
import { describe, expect, it } from 'vitest';
import { QuitController, type Closable, type QuitPhase } from '../../electron/quit-controller.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

class FakeGateway implements Closable {
  calls: Array<{ cutDrain?: boolean } | undefined> = [];
  readonly closing = deferred<void>();
  close(opts?: { cutDrain?: boolean }) {
    this.calls.push(opts);
    return this.closing.promise;
  }
}

function setup(gateway: Promise<Closable | null>) {
  const phases: QuitPhase[] = [];
  const finished: Array<{ error?: unknown }> = [];
  const q = new QuitController({ gateway: () => gateway, onPhase: (p) => phases.push(p), finish: (r) => finished.push(r) });
  return { q, phases, finished };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('quit controller', () => {
  it('drains on the first request, cuts the drain on the second, finishes once', async () => {
    const gw = new FakeGateway();
    const { q, phases, finished } = setup(Promise.resolve(gw));
    q.request('quit');
    expect(q.quitting).toBe(true);
    await tick();
    expect(gw.calls).toEqual([undefined]);
    q.request('quit');
    expect(gw.calls).toEqual([undefined, { cutDrain: true }]);
    q.request('signal'); // already cut: nothing more
    expect(gw.calls).toHaveLength(2);
    expect(finished).toEqual([]);
    gw.closing.resolve();
    await tick();
    expect(phases).toEqual(['draining', 'stopping', 'done']);
    expect(finished).toEqual([{}]);
    q.request('quit');
    expect(finished).toHaveLength(1);
  });

  it('waits for a start in progress, then closes what it created, with a cut asked for meanwhile', async () => {
    const starting = deferred<Closable | null>();
    const { q, finished } = setup(starting.promise);
    q.request('quit');
    q.request('quit');
    await tick();
    expect(finished).toEqual([]);
    const gw = new FakeGateway();
    starting.resolve(gw); // e.g. listen() failed: the gateway exists and may hold models
    await tick();
    expect(gw.calls).toEqual([{ cutDrain: true }]);
    gw.closing.resolve();
    await tick();
    expect(finished).toEqual([{}]);
  });

  it('a session end or system shutdown skips the drain', async () => {
    const gw = new FakeGateway();
    const { q, phases } = setup(Promise.resolve(gw));
    q.request('session-end');
    await tick();
    expect(gw.calls).toEqual([{ cutDrain: true }]);
    expect(phases).toEqual(['stopping']);
  });

  it('finishes with no gateway, and reports a close that failed', async () => {
    const none = setup(Promise.resolve(null));
    none.q.request('quit');
    await tick();
    expect(none.finished).toEqual([{}]);

    const failing: Closable = { close: () => Promise.reject(new Error('docker hung up')) };
    const bad = setup(Promise.resolve(failing));
    bad.q.request('quit');
    await tick();
    await tick();
    expect(bad.finished).toHaveLength(1);
    expect((bad.finished[0]!.error as Error).message).toBe('docker hung up');
    expect(bad.q.done).toBe(true);
  });
});
