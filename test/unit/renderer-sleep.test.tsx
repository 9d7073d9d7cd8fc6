// @vitest-environment jsdom
// The dashboard with sleep mode: sleeping and waking models, the Sleep action, a sleeper's small
// GPU segment and its host RAM.
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelStatus, StatusDocument } from '../../gateway/status-types.js';
import { App } from '../../renderer/App.js';
import { gpuSegments } from '../../renderer/lib/gpu-segments.js';
import { iso, sampleStatus } from '../e2e/sample-status.js';
import { FakeApi } from './renderer-fake-api.js';

afterEach(cleanup);
const GIB = 1024;

/** The sample status with three sleep-capable models: one asleep, one waking, one ready and idle. */
function withSleepers(): StatusDocument {
  const doc = sampleStatus();
  const base = doc.models.find((m) => m.id === 'bge-m3')!;
  const add = (over: Partial<ModelStatus> & Pick<ModelStatus, 'id' | 'state'>): ModelStatus => ({
    ...base,
    aliases: [],
    inFlight: 0,
    queued: 0,
    sleepLevel: 1,
    vramBudgetMiB: 14 * GIB,
    gpus: [0],
    lastUsedAt: iso(60_000),
    stateSince: iso(30_000),
    ...over,
  });
  doc.models.push(
    add({ id: 'asleep-14b', state: 'sleeping', vramUsedMiB: 1024, sleepHostRamMiB: 14 * GIB, endpoint: 'http://127.0.0.1:40001' }),
    add({
      id: 'waking-14b',
      state: 'waking',
      progress: { phase: 'loading', percent: 50, message: 'reloading the weights' },
      sleepLevel: 2,
    }),
    add({ id: 'awake-14b', state: 'ready', vramUsedMiB: 14 * GIB, endpoint: 'http://127.0.0.1:40002' }),
  );
  doc.gpus[0].models.push({ id: 'asleep-14b', usedMiB: 1024 });
  return doc;
}

async function renderApp(api: FakeApi) {
  render(<App api={api} />);
  await screen.findByRole('group', { name: 'asleep-14b' });
}

describe('dashboard: sleep mode', () => {
  it('a sleeping model: its state word, how long, its host RAM; Warm (wakes it) and Evict enabled; no Sleep', async () => {
    await renderApp(new FakeApi(withSleepers()));
    const g = screen.getByRole('group', { name: 'asleep-14b' });
    within(g).getByText('sleeping', { exact: true });
    within(g).getByText(/Asleep \(level 1\) .*14\.0 GiB in host RAM · wakes on the next request/);
    expect((within(g).getByRole('button', { name: 'Warm asleep-14b' }) as HTMLButtonElement).disabled).toBe(false);
    expect((within(g).getByRole('button', { name: 'Evict asleep-14b' }) as HTMLButtonElement).disabled).toBe(false);
    expect((within(g).getByRole('button', { name: 'Sleep asleep-14b' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('a waking model: its state word and the wake progress', async () => {
    await renderApp(new FakeApi(withSleepers()));
    const g = screen.getByRole('group', { name: 'waking-14b' });
    within(g).getByText('waking', { exact: true });
    within(g).getByText(/Waking from sleep/);
    within(g).getByText('reloading the weights');
    expect(within(g).getByRole('progressbar', { name: 'waking-14b wake progress' }).getAttribute('aria-valuenow')).toBe('50');
    expect((within(g).getByRole('button', { name: 'Warm waking-14b' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('Sleep puts a ready idle model to sleep; models without sleep mode have no Sleep button', async () => {
    const api = new FakeApi(withSleepers());
    await renderApp(api);
    const b = screen.getByRole('button', { name: 'Sleep awake-14b' }) as HTMLButtonElement;
    expect(b.disabled).toBe(false);
    fireEvent.click(b);
    await waitFor(() => expect(api.sleep).toHaveBeenCalledWith('awake-14b'));
    expect(screen.queryByRole('button', { name: 'Sleep qwen2.5-7b-instruct' })).toBeNull(); // sleepLevel 0
  });

  it("the GPU bar: a sleeper's segment is only its residue, titled with its host RAM", async () => {
    await renderApp(new FakeApi(withSleepers()));
    const seg = document.querySelector('[data-model="asleep-14b"]') as HTMLElement;
    expect(seg.className).toContain('sleeping');
    expect(seg.title).toBe('asleep-14b: asleep, 1.0 GiB left on the GPU, 14.0 GiB in host RAM');
    const doc = withSleepers();
    const s = gpuSegments(doc.gpus[0], doc.models).find((x) => x.kind === 'model' && x.id === 'asleep-14b');
    expect(s).toMatchObject({ usedMiB: 1024, budgetMiB: null, spanMiB: 1024, sleeping: true, hostRamMiB: 14 * GIB });
    // a waking model books its whole budget
    const w = gpuSegments(doc.gpus[0], doc.models).find((x) => x.kind === 'model' && x.id === 'waking-14b');
    expect(w).toMatchObject({ budgetMiB: 14 * GIB, sleeping: false });
  });
});
