// The by-hand unload both UIs share: a plain unload first; on model_busy ask, and force only after
// a yes; the dashboard's "already busy" path asks before any unload; every other failure is rethrown.
import { describe, expect, it } from 'vitest';
import { unloadAskingFirst, type BusyReason, type UnloadAskingDeps } from '../../common/unload-asking-first.js';
import { GatewayError } from '../../gateway/errors.js';
import { ApiError } from '../../renderer/api/gateway-api.js';

/** Answers like the gateway's unload: model_busy while the model has requests, unless forced. */
class FakeUnloader {
  readonly calls: Array<{ id: string; force: boolean }> = [];
  constructor(
    private busy: boolean,
    private readonly fail: (force: boolean) => unknown = (force) =>
      force || !this.busy ? null : new GatewayError('model_busy', 'm has 2 requests in flight; unload with force=true to end them.'),
  ) {}
  unload = async (id: string, opts: { force: boolean }) => {
    this.calls.push({ id, force: opts.force });
    const err = this.fail(opts.force);
    if (err) throw err;
    this.busy = false;
  };
}

function asker(answer: boolean | Promise<boolean>) {
  const asked: Array<{ id: string; reason: BusyReason }> = [];
  const confirm: UnloadAskingDeps['confirm'] = (id, reason) => {
    asked.push({ id, reason });
    return answer;
  };
  return { asked, confirm };
}

describe('unloadAskingFirst', () => {
  it('an idle model is unloaded without force and without asking', async () => {
    const g = new FakeUnloader(false);
    const a = asker(true);
    expect(await unloadAskingFirst('m', { unload: g.unload, confirm: a.confirm })).toBe('unloaded');
    expect(g.calls).toEqual([{ id: 'm', force: false }]);
    expect(a.asked).toEqual([]);
  });

  it('a busy model whose user declines keeps running: no forced unload', async () => {
    const g = new FakeUnloader(true);
    const a = asker(false);
    expect(await unloadAskingFirst('m', { unload: g.unload, confirm: a.confirm })).toBe('kept');
    expect(g.calls).toEqual([{ id: 'm', force: false }]);
    expect(a.asked).toEqual([
      { id: 'm', reason: { kind: 'refused', message: 'm has 2 requests in flight; unload with force=true to end them.' } },
    ]);
  });

  it('a busy model whose user agrees is unloaded with force', async () => {
    const g = new FakeUnloader(true);
    const a = asker(true);
    expect(await unloadAskingFirst('m', { unload: g.unload, confirm: a.confirm })).toBe('forced');
    expect(g.calls).toEqual([
      { id: 'm', force: false },
      { id: 'm', force: true },
    ]);
    expect(a.asked).toHaveLength(1);
  });

  it('waits for an asynchronous answer (a dialog) before forcing', async () => {
    const g = new FakeUnloader(true);
    let answer!: (yes: boolean) => void;
    const a = asker(new Promise<boolean>((r) => (answer = r)));
    const outcome = unloadAskingFirst('m', { unload: g.unload, confirm: a.confirm });
    await new Promise((r) => setImmediate(r));
    expect(a.asked).toHaveLength(1);
    expect(g.calls).toEqual([{ id: 'm', force: false }]);
    answer(true);
    expect(await outcome).toBe('forced');
    expect(g.calls.at(-1)).toEqual({ id: 'm', force: true });
  });

  it('the renderer’s ApiError with code model_busy asks the same way', async () => {
    const g = new FakeUnloader(true, (force) => (force ? null : new ApiError('busy', { code: 'model_busy', status: 409 })));
    const a = asker(true);
    expect(await unloadAskingFirst('m', { unload: g.unload, confirm: a.confirm })).toBe('forced');
    expect(a.asked[0].reason).toEqual({ kind: 'refused', message: 'busy' });
  });

  it('knownBusy asks before any unload; declined, nothing is unloaded', async () => {
    const g = new FakeUnloader(true);
    const a = asker(false);
    expect(await unloadAskingFirst('m', { unload: g.unload, confirm: a.confirm }, { knownBusy: true })).toBe('kept');
    expect(a.asked).toEqual([{ id: 'm', reason: { kind: 'known-busy' } }]);
    expect(g.calls).toEqual([]);
  });

  it('knownBusy and agreed: one forced unload, no plain try first', async () => {
    const g = new FakeUnloader(true);
    const a = asker(true);
    expect(await unloadAskingFirst('m', { unload: g.unload, confirm: a.confirm }, { knownBusy: true })).toBe('forced');
    expect(g.calls).toEqual([{ id: 'm', force: true }]);
  });

  it('any other error of the plain unload is rethrown without asking or forcing', async () => {
    const notFound = new GatewayError('model_not_found', 'The model `m` does not exist.');
    const g = new FakeUnloader(false, () => notFound);
    const a = asker(true);
    await expect(unloadAskingFirst('m', { unload: g.unload, confirm: a.confirm })).rejects.toBe(notFound);
    expect(g.calls).toEqual([{ id: 'm', force: false }]);
    expect(a.asked).toEqual([]);
  });

  it('a failure of the forced unload is rethrown', async () => {
    const transport = new ApiError('The gateway is not answering.', { code: 'network_error' });
    const g = new FakeUnloader(true, (force) => (force ? transport : new GatewayError('model_busy', 'busy')));
    const a = asker(true);
    await expect(unloadAskingFirst('m', { unload: g.unload, confirm: a.confirm })).rejects.toBe(transport);
    expect(g.calls).toEqual([
      { id: 'm', force: false },
      { id: 'm', force: true },
    ]);
  });
});
