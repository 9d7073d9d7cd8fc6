// @vitest-environment jsdom
// Component tests of the dashboard with a fake GatewayApi: roles and names (docs/desktop.md),
// actions, the confirm-before-force flow, failures, read-only mode and live updates.
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../renderer/App.js';
import { ApiError } from '../../renderer/api/gateway-api.js';
import { sampleHistory, sampleStatus, START_FAILURE } from '../e2e/sample-status.js';
import { FakeApi } from './renderer-fake-api.js';

afterEach(cleanup);

async function renderApp(api: FakeApi) {
  render(<App api={api} />);
  await screen.findByRole('group', { name: 'qwen2.5-7b-instruct' });
}

describe('dashboard', () => {
  it('an empty request table says whether requests are still running', async () => {
    const doc = sampleStatus();
    doc.recentRequests = [];
    const busy = doc.models.reduce((n, m) => n + m.inFlight, 0);
    expect(busy).toBeGreaterThan(0);
    await renderApp(new FakeApi(doc));
    screen.getByText(`No request listed yet (${busy} in flight).`);
    cleanup();
    const idle = sampleStatus();
    idle.recentRequests = [];
    for (const m of idle.models) m.inFlight = 0;
    await renderApp(new FakeApi(idle));
    screen.getByText('No requests yet. Point a client at the gateway URL and they appear here.');
  });

  it('names each GPU meter with its usage and exposes its values', async () => {
    await renderApp(new FakeApi(sampleStatus()));
    const meters = screen.getAllByRole('meter', { name: /GiB used$/ });
    expect(meters).toHaveLength(2);
    const m0 = screen.getByRole('meter', { name: 'NVIDIA H200: 59.9 of 140.4 GiB used' });
    expect(m0.getAttribute('aria-valuenow')).toBe('59.9');
    expect(m0.getAttribute('aria-valuemin')).toBe('0');
    expect(m0.getAttribute('aria-valuemax')).toBe('140.4');
    screen.getByRole('meter', { name: 'NVIDIA H200: 91.9 of 140.4 GiB used' });
    // one segment per model on the GPU, in the model's colour
    const segs = [...m0.querySelectorAll('[data-model]')].map((e) => e.getAttribute('data-model'));
    expect(segs.sort()).toEqual(['mistral-small-24b', 'qwen2.5-7b-instruct']);
  });

  it('shows one group per model, named by its id, with its state word', async () => {
    const doc = sampleStatus();
    await renderApp(new FakeApi(doc));
    for (const m of doc.models) {
      const group = screen.getByRole('group', { name: m.id });
      expect(within(group).getByText(m.state, { exact: true })).toBeTruthy();
      within(group).getByRole('button', { name: `Warm ${m.id}` });
      within(group).getByRole('button', { name: `Evict ${m.id}` });
    }
    const pulling = screen.getByRole('group', { name: 'deepseek-r1-distill-32b' });
    within(pulling).getByText(/Pulling image · 63%/);
    const starting = screen.getByRole('group', { name: 'mistral-small-24b' });
    within(starting).getByText(/Loading · 0:4\d/);
    const llama = screen.getByRole('group', { name: 'llama-3.1-70b-instruct' });
    expect(within(llama).getByText('In flight').parentElement!.textContent).toContain('16 / 16');
    expect(within(llama).getByText('Queued').parentElement!.textContent).toContain('7 / 64');
  });

  it('shows the gateway URL with a copy button, and recent requests', async () => {
    await renderApp(new FakeApi(sampleStatus()));
    screen.getByText('http://127.0.0.1:8080');
    screen.getByRole('button', { name: 'Copy gateway URL' });
    const table = screen.getByRole('table');
    within(table).getByText('/v1/embeddings');
    expect(within(table).getAllByRole('row')).toHaveLength(11);
  });

  it('Warm calls load with the model id', async () => {
    const api = new FakeApi(sampleStatus());
    await renderApp(api);
    fireEvent.click(screen.getByRole('button', { name: 'Warm gemma-3-27b' }));
    await waitFor(() => expect(api.load).toHaveBeenCalledWith('gemma-3-27b'));
  });

  it('Warm is disabled for a ready model; Evict for a stopped one', async () => {
    await renderApp(new FakeApi(sampleStatus()));
    expect((screen.getByRole('button', { name: 'Warm qwen2.5-7b-instruct' }) as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByRole('button', { name: 'Evict gemma-3-27b' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('Evict of an idle model unloads without force', async () => {
    const api = new FakeApi(sampleStatus());
    await renderApp(api);
    fireEvent.click(screen.getByRole('button', { name: 'Evict bge-m3' }));
    await waitFor(() => expect(api.unload).toHaveBeenCalledWith('bge-m3', { force: false }));
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('Evict of a busy model asks first; Cancel does nothing, confirming forces', async () => {
    const api = new FakeApi(sampleStatus());
    await renderApp(api);
    const evict = screen.getByRole('button', { name: 'Evict llama-3.1-70b-instruct' });
    fireEvent.click(evict);
    let dialog = await screen.findByRole('dialog', { name: 'Evict llama-3.1-70b-instruct now?' });
    within(dialog).getByText(/16 requests in flight and 7 requests queued/);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(api.unload).not.toHaveBeenCalled();

    fireEvent.click(evict);
    dialog = await screen.findByRole('dialog');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Evict anyway' }));
    await waitFor(() => expect(api.unload).toHaveBeenCalledWith('llama-3.1-70b-instruct', { force: true }));
    expect(api.unload).toHaveBeenCalledTimes(1);
  });

  it('when the gateway answers 409 model_busy, it asks and then forces', async () => {
    const api = new FakeApi(sampleStatus());
    api.unload.mockImplementationOnce(async () => {
      throw new ApiError('qwen2.5-7b-instruct has requests in flight.', { code: 'model_busy', status: 409 });
    });
    await renderApp(api);
    // The status says 3 in flight → asks at once. Make it look idle to exercise the race.
    act(() => {
      const doc = sampleStatus();
      doc.models.find((m) => m.id === 'qwen2.5-7b-instruct')!.inFlight = 0;
      api.push(doc);
    });
    fireEvent.click(screen.getByRole('button', { name: 'Evict qwen2.5-7b-instruct' }));
    const dialog = await screen.findByRole('dialog');
    expect(api.unload).toHaveBeenCalledWith('qwen2.5-7b-instruct', { force: false });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Evict anyway' }));
    await waitFor(() => expect(api.unload).toHaveBeenLastCalledWith('qwen2.5-7b-instruct', { force: true }));
  });

  it('Escape closes the confirmation', async () => {
    await renderApp(new FakeApi(sampleStatus()));
    fireEvent.click(screen.getByRole('button', { name: 'Evict llama-3.1-70b-instruct' }));
    await screen.findByRole('dialog');
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('a failed model shows its start failure message', async () => {
    await renderApp(new FakeApi(sampleStatus()));
    const group = screen.getByRole('group', { name: 'phi-4-mini' });
    within(group).getByText('failed', { exact: true });
    const alert = within(group).getByRole('alert');
    expect(alert.textContent).toContain('Start failed');
    expect(alert.textContent).toContain(START_FAILURE.split('\n')[2]);
  });

  it('shows the gateway’s error message when an action fails', async () => {
    const api = new FakeApi(sampleStatus());
    api.load.mockRejectedValueOnce(
      new ApiError('Not enough GPU memory for gemma-3-27b (needs 60.0 GiB).', { code: 'insufficient_vram', status: 503 }),
    );
    await renderApp(api);
    fireEvent.click(screen.getByRole('button', { name: 'Warm gemma-3-27b' }));
    const group = screen.getByRole('group', { name: 'gemma-3-27b' });
    await within(group).findByText(/Not enough GPU memory for gemma-3-27b/);
  });

  it('shows a yielding model ("yielding to b") and which model waits for memory, for how long and behind whom', async () => {
    const doc = sampleStatus();
    const qwen = doc.models.find((x) => x.id === 'qwen2.5-7b-instruct')!;
    Object.assign(qwen, { yielding: true, yieldingTo: 'gemma-3-27b', inFlight: 2, queued: 3 });
    const gemma = doc.models.find((x) => x.id === 'gemma-3-27b')!;
    Object.assign(gemma, {
      state: 'starting',
      queued: 1,
      stateSince: new Date(Date.now() - 12_000).toISOString(),
      progress: { phase: 'loading', percent: null, message: 'waiting for GPU memory: waiting for qwen2.5-7b-instruct to finish and yield' },
      waitingForMemory: {
        since: new Date(Date.now() - 12_000).toISOString(),
        reason: 'waiting for qwen2.5-7b-instruct to finish and yield',
        blockedBy: ['qwen2.5-7b-instruct'],
      },
    });
    await renderApp(new FakeApi(doc));
    const yielding = screen.getByRole('group', { name: 'qwen2.5-7b-instruct' });
    within(yielding).getByText('yielding to gemma-3-27b');
    within(yielding).getByText('Yielding to gemma-3-27b');
    within(yielding).getByText('finishing 2 in flight, then stopping; 3 queued for its turn back');
    const waiting = screen.getByRole('group', { name: 'gemma-3-27b' });
    within(waiting).getByRole('progressbar', { name: 'gemma-3-27b waits for GPU memory' });
    within(waiting).getByText(/^Waiting for GPU memory · 0:1[23]$/);
    within(waiting).getByText('held by qwen2.5-7b-instruct');
  });

  it('updates live when a new status document arrives', async () => {
    const api = new FakeApi(sampleStatus());
    await renderApp(api);
    act(() => {
      const doc = sampleStatus();
      const m = doc.models.find((x) => x.id === 'gemma-3-27b')!;
      m.state = 'starting';
      m.queued = 12;
      api.push(doc);
    });
    const group = screen.getByRole('group', { name: 'gemma-3-27b' });
    within(group).getByText('starting', { exact: true });
    expect(within(group).getByText('Queued').parentElement!.textContent).toContain('12 / 200');
  });

  it('shows the queue by class (priority lanes) while requests wait', async () => {
    const api = new FakeApi(sampleStatus());
    await renderApp(api);
    const group = screen.getByRole('group', { name: 'gemma-3-27b' });
    expect(within(group).queryByText(/interactive ·/)).toBeNull(); // nothing waits: no breakdown
    act(() => {
      const doc = sampleStatus();
      const m = doc.models.find((x) => x.id === 'gemma-3-27b')!;
      Object.assign(m, { queued: 5, queuedByPriority: { interactive: 1, batch: 4 } });
      api.push(doc);
    });
    const queued = within(screen.getByRole('group', { name: 'gemma-3-27b' })).getByText('Queued').parentElement!;
    expect(queued.textContent).toContain('5 / 200');
    expect(within(queued).getByText('1 interactive · 4 batch')).toBeTruthy();
  });

  it('opens a logs drawer with the model’s output', async () => {
    const api = new FakeApi(sampleStatus());
    await renderApp(api);
    fireEvent.click(screen.getByRole('button', { name: 'Logs of bge-m3' }));
    const drawer = await screen.findByRole('dialog', { name: 'Logs of bge-m3' });
    await within(drawer).findByText(/Application startup complete/);
    expect(api.logs).toHaveBeenCalledWith('bge-m3', expect.any(Number));
    fireEvent.click(within(drawer).getByRole('button', { name: 'Close logs' }));
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('says so when the gateway does not answer', async () => {
    const api = new FakeApi(sampleStatus());
    api.statusError = new ApiError('The gateway cannot be reached (connection refused).', { code: 'network_error' });
    render(<App api={api} />);
    await screen.findByText('The gateway is not answering');
    screen.getByText(/connection refused/);
  });

  it('unsubscribes on unmount', async () => {
    const api = new FakeApi(sampleStatus());
    const { unmount } = render(<App api={api} />);
    await screen.findByRole('group', { name: 'bge-m3' });
    expect(api.subscribers).toBe(1);
    unmount();
    expect(api.subscribers).toBe(0);
  });

  it('engine figures: tokens/s, a KV-cache meter and the engine queue per model; saturation said in words', async () => {
    await renderApp(new FakeApi(sampleStatus()));
    const qwen = screen.getByRole('group', { name: 'qwen2.5-7b-instruct' });
    within(qwen).getByLabelText('qwen2.5-7b-instruct generation: 84 tokens per second');
    const kv = within(qwen).getByRole('meter', { name: 'qwen2.5-7b-instruct KV cache: 12.5% used' });
    expect(kv.getAttribute('aria-valuenow')).toBe('12.5');
    expect(within(qwen).queryByRole('status')).toBeNull();
    const llama = screen.getByRole('group', { name: 'llama-3.1-70b-instruct' });
    within(llama).getByLabelText('llama-3.1-70b-instruct generation: 413 tokens per second');
    expect(within(llama).getByText(/7 waiting/)).toBeTruthy();
    expect(within(llama).getByRole('status').textContent).toMatch(
      /Saturated:.*7 requests back.*KV cache 98% full.*maxConcurrent will not help/,
    );
    // A model whose server reports nothing (remote, not scraped) shows no engine figures.
    expect(within(screen.getByRole('group', { name: 'gpt-oss-120b' })).queryByText('Tokens/s')).toBeNull();
    // The summary adds up the models' rates: 84.2 + 412.6 + 0.
    const summary = screen.getByText('Tokens/s', { selector: 'dt' }).parentElement!;
    expect(summary.textContent).toContain('497');
  });

  it('charts of the last minutes and a sparkline per model, from the history', async () => {
    const api = new FakeApi(sampleStatus());
    api.historyDoc = sampleHistory();
    await renderApp(api);
    await screen.findByRole('heading', { name: 'Activity' });
    expect(api.history).toHaveBeenCalledWith(300);
    const vram = screen.getByRole('img', {
      name: /^VRAM used over the last minutes: GPU 0 59\.9 \/ 140\.4 GiB, GPU 1 91\.9 \/ 140\.4 GiB$/,
    });
    expect(vram.querySelectorAll('path')).toHaveLength(2);
    // The figures beside the chart are the live ones the model cards show (84.2, 412.6 and 0 in the
    // status document), not the history's last samples.
    const tokens = screen.getByRole('img', {
      name: 'Generation tokens per second over the last minutes: qwen2.5-7b-instruct 84 tok/s, llama-3.1-70b-instruct 413 tok/s, bge-m3 0.0 tok/s',
    });
    expect([...tokens.querySelectorAll('path')].map((p) => p.getAttribute('data-series'))).toEqual([
      'qwen2.5-7b-instruct',
      'llama-3.1-70b-instruct',
      'bge-m3',
    ]);
    const spark = within(screen.getByRole('group', { name: 'llama-3.1-70b-instruct' })).getByRole('img', {
      name: 'llama-3.1-70b-instruct tokens per second over the last minutes',
    });
    expect(spark.querySelector('path')!.getAttribute('d')).toMatch(/^M0\.0,[\d.]+(L[\d.]+,[\d.]+){299}$/);
  });

  it('recent requests show tokens and tokens/s where the response carried usage', async () => {
    await renderApp(new FakeApi(sampleStatus()));
    const table = screen.getByRole('table');
    const headers = within(table)
      .getAllByRole('columnheader')
      .map((h) => h.textContent);
    expect(headers).toContain('Tokens');
    expect(headers).toContain('Tok/s');
    const row = within(table).getAllByRole('row')[2]; // the qwen stream: 196 tokens in 2.31 s
    const cells = within(row)
      .getAllByRole('cell')
      .map((c) => c.textContent);
    expect(cells).toContain('196');
    expect(cells).toContain('85');
    const first = within(table).getAllByRole('row')[1]; // still running: no usage yet
    expect(
      within(first)
        .getAllByRole('cell')
        .filter((c) => c.textContent === '—').length,
    ).toBeGreaterThanOrEqual(2);
  });
});
