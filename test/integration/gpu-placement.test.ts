// Issue 4, gateway level: placement follows measured memory. Memory held by processes the
// gateway does not manage lowers what a model may use (it evicts, waits or fails with
// insufficient_vram where an empty GPU would have taken it), and a start after an eviction waits
// until the GPU measures the evicted server's memory free (P11).

import { afterEach, describe, expect, it } from 'vitest';
import { alive, cleanupGpuTests, kill, mockCommand, mockStats, sleep, slowStopCommand, startGpuGateway, waitFor } from './gpu-helpers.js';

afterEach(cleanupGpuTests);

// 24 GiB GPU: 24576 − 616 reserved − 512 (reserveGiB 0.5) = 23448 MiB for models.
const GPU = 'Fake GPU:24576';

describe.runIf(process.platform === 'linux')('other processes lower the memory available to models', () => {
  it('fails with insufficient_vram while another process holds the memory, starts once it is gone', async () => {
    const t = await startGpuGateway({ gpus: GPU, models: { big: { vramGiB: 16, command: mockCommand(16384) } } });
    const other = await t.other(10000, 0);
    await waitFor(() => t.status().gpus[0]?.otherMiB === 10000, 'the other process measured');

    // 16384 would fit the empty GPU (23448) but not beside 10000 MiB of someone else's.
    const res = await t.chat('big');
    expect(res.status).toBe(503);
    expect(res.json.error.code).toBe('insufficient_vram');
    expect(res.json.error.message).toMatch(/other processes/);
    expect(t.runtime.starts).toEqual([]); // nothing was started
    expect(t.model('big')).toMatchObject({ state: 'stopped' });

    await kill(other);
    await waitFor(() => t.status().gpus[0].otherMiB === 0, 'the other process gone');
    const ok = await t.chat('big');
    expect(ok.status).toBe(200);
    expect(t.model('big').state).toBe('ready');
    await t.close();
  });

  it('evicts an idle model that would have fit beside it on an empty GPU', async () => {
    const t = await startGpuGateway({
      gpus: GPU,
      models: {
        a: { vramGiB: 8, command: mockCommand(8192) },
        b: { vramGiB: 8, command: mockCommand(8192) },
      },
    });
    expect((await t.admin('/gateway/models/a/load')).status).toBe(200);
    await t.other(8000, 0);
    await waitFor(() => t.status().gpus[0]?.otherMiB === 8000, 'the other process measured');

    // a + b = 16384 fit 23448; with 8000 held by another process only 7256 remain for b.
    expect((await t.chat('b')).status).toBe(200);
    expect(t.model('a').state).toBe('stopped');
    expect(t.model('b').state).toBe('ready');
    expect(t.gw.scheduler.evictions).toBe(1);
    await t.close();
  });

  it('waits for a busy model to become idle (P10), then evicts it', async () => {
    const t = await startGpuGateway({
      gpus: GPU,
      models: {
        a: { vramGiB: 8, command: mockCommand(8192) },
        b: { vramGiB: 8, command: mockCommand(8192) },
      },
    });
    expect((await t.admin('/gateway/models/a/load')).status).toBe(200);
    await t.other(8000, 0);
    await waitFor(() => t.status().gpus[0]?.otherMiB === 8000, 'the other process measured');

    const slow = t.chat('a', { 'x-mock-delay-ms': '2000' });
    await waitFor(() => t.model('a').inFlight === 1, 'a busy');
    const bRes = t.chat('b');
    // b waits for memory while a is busy; a is not evicted under its request.
    const waiting = await waitFor(() => {
      const m = t.model('b');
      return m.progress?.message.startsWith('waiting for GPU memory') ? m : null;
    }, 'b waiting for GPU memory');
    expect(waiting.state).toBe('starting');
    expect(t.model('a').state).toBe('ready');
    expect(t.runtime.starts.map(([id]) => id)).toEqual(['a']);

    const aDone = await slow;
    expect(aDone.status).toBe(200); // a's request completed, not cut
    expect((await bRes).status).toBe(200);
    expect(t.model('a').state).toBe('stopped');
    expect(t.runtime.starts.map(([id]) => id)).toEqual(['a', 'b']);
    await t.close();
  });
});

describe.runIf(process.platform === 'linux')('eviction waits for the measured release (P11)', () => {
  it('starts the next model only after nvidia-smi reports the evicted memory free', async () => {
    const RELEASE_MS = 1500;
    const t = await startGpuGateway({
      gpus: GPU,
      fakeEnv: { FAKE_NVIDIA_SMI_RELEASE_DELAY_MS: String(RELEASE_MS) },
      models: {
        a: { vramGiB: 16, command: mockCommand(16384) },
        b: { vramGiB: 16, command: mockCommand(16384) },
      },
    });
    expect((await t.admin('/gateway/models/a/load')).status).toBe(200);
    const aPid: number = (await mockStats(t, 'a')).pid;
    // Wait until a's memory is measured as a's, as it would be after a while in service.
    await waitFor(() => t.status().gpus[0]?.models[0]?.usedMiB === 16384, 'a measured');

    // Watch a's process: note when it is gone.
    let aGoneAt = 0;
    const watch = (async () => {
      while (alive(aPid)) await sleep(5);
      aGoneAt = Date.now();
    })();
    const bRes = t.chat('b');
    await watch;

    const res = await bRes;
    expect(res.status, res.text).toBe(200);
    expect(t.model('a').state).toBe('stopped');
    const bStartedAt: number = (await mockStats(t, 'b')).startedAt;
    const bSpawnedAt = t.runtime.starts.find(([id]) => id === 'b')![1];
    // Ordering: a exited, then the memory stayed in use for the release delay, then b was spawned.
    expect(aGoneAt).toBeGreaterThan(0);
    expect(bSpawnedAt).toBeGreaterThanOrEqual(aGoneAt + RELEASE_MS - 100);
    expect(bStartedAt).toBeGreaterThanOrEqual(bSpawnedAt);
    expect(t.gw.scheduler.evictions).toBe(1);
    await t.close();
  });

  it('evicting two models that stop at different times: memory still being released is not taken for another process', async () => {
    // x stops at once, y takes 1.2 s; the driver frees x's memory 3 s after x is gone, so when
    // both are stopped nvidia-smi still counts x's memory as used without listing its process.
    const t = await startGpuGateway({
      gpus: GPU,
      fakeEnv: { FAKE_NVIDIA_SMI_RELEASE_DELAY_MS: '3000' },
      models: {
        x: { vramGiB: 8, command: mockCommand(8192) },
        y: { vramGiB: 8, command: slowStopCommand(8192, 1200) },
        z: { vramGiB: 20, command: mockCommand(20480) },
      },
      // What is asserted is the order of events, not their pace: a loaded machine gets time.
      queueTimeoutSeconds: 45,
    });
    expect((await t.admin('/gateway/models/x/load')).status).toBe(200);
    expect((await t.admin('/gateway/models/y/load')).status).toBe(200);
    await waitFor(() => t.status().gpus[0]?.models.length === 2, 'x and y measured');

    const res = await t.chat('z');
    expect(res.status, res.text).toBe(200);
    expect(t.model('x').state).toBe('stopped');
    expect(t.model('y').state).toBe('stopped');
    expect(t.model('z').state).toBe('ready');
    expect(t.gw.scheduler.evictions).toBe(2);
    await t.close();
  }, 60_000);
});
