// Issue 4, gateway level: a failing nvidia-smi (driver/library mismatch mid-run) and an absent
// one. /ready answers 503 with the reason; the status document's gpuProbe carries the error while
// the last good reading stays, with its age; a recovered probe clears it.

import { writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupGpuTests, mockCommand, sleep, startGpuGateway, tempDir, waitFor } from './gpu-helpers.js';

afterEach(cleanupGpuTests);

describe.runIf(process.platform === 'linux')('a failing or absent GPU probe', () => {
  it('nvidia-smi failing mid-run: /ready 503 with the reason, last good reading kept with its age, recovery', async () => {
    const tmp = tempDir('gpu-fail-');
    const failFile = path.join(tmp.dir, 'fail');
    try {
      const t = await startGpuGateway({
        gpus: 'Fake GPU:24576',
        fakeEnv: { FAKE_NVIDIA_SMI_FAIL_FILE: failFile },
        models: { m: { vramGiB: 4, command: mockCommand(4096) } },
      });
      expect((await t.admin('/gateway/models/m/load')).status).toBe(200);
      await waitFor(() => t.status().gpus[0]?.models[0]?.usedMiB === 4096, 'm measured');
      const ready = await t.get('/ready');
      expect(ready.status, ready.text).toBe(200);

      writeFileSync(failFile, '');
      const notReady = await waitFor(async () => {
        const r = await t.get('/ready');
        return r.status === 503 ? r : null;
      }, '/ready 503');
      expect(notReady.json.status).toBe('not_ready');
      const reason = (notReady.json.reasons as string[]).join('\n');
      expect(reason).toMatch(/GPU probe \(nvidia-smi\)/);
      expect(reason).toMatch(/Driver\/library version mismatch/);

      // The last good reading is kept; its age grows while the probe fails.
      const first = t.status();
      expect(first.gpuProbe).toMatchObject({ kind: 'nvidia-smi', available: false });
      expect(first.gpuProbe!.error).toMatch(/nvidia-smi failed: Failed to initialize NVML: Driver\/library version mismatch/);
      expect(first.gpus).toHaveLength(1);
      expect(first.gpus[0]).toMatchObject({ totalMiB: 24576, usedMiB: 4096, models: [{ id: 'm', usedMiB: 4096 }] });
      expect(first.models[0].vramUsedMiB).toBe(4096);
      await sleep(600);
      const later = t.status();
      expect(later.gpuProbe!.ageMs!).toBeGreaterThanOrEqual(first.gpuProbe!.ageMs! + 500);
      expect(later.gpus[0].usedMiB).toBe(4096);
      // Over HTTP too.
      const http = (await t.get('/gateway/status')).json;
      expect(http.gpuProbe.error).toMatch(/Driver\/library version mismatch/);
      expect(http.gpus[0].models).toEqual([{ id: 'm', usedMiB: 4096 }]);
      // Requests to a ready model are still served.
      expect((await t.chat('m')).status).toBe(200);

      rmSync(failFile);
      await waitFor(async () => (await t.get('/ready')).status === 200, '/ready 200 again');
      const recovered = t.status();
      expect(recovered.gpuProbe).toMatchObject({ available: true, error: null });
      expect(recovered.gpuProbe!.ageMs!).toBeLessThan(later.gpuProbe!.ageMs!);
      await t.close();
    } finally {
      tmp.remove();
    }
  });

  it('nvidia-smi absent (gpu.probe: nvidia-smi): /ready 503 saying nvidia-smi was not found; no model can be placed', async () => {
    const tmp = tempDir('gpu-absent-');
    const missing = path.join(tmp.dir, 'no-such-dir', 'nvidia-smi');
    try {
      const t = await startGpuGateway({
        gpu: { nvidiaSmiPath: missing },
        models: { m: { vramGiB: 4, command: mockCommand(4096) } },
      });
      const r = await t.get('/ready');
      expect(r.status).toBe(503);
      const reason = (r.json.reasons as string[]).join('\n');
      expect(reason).toContain(`nvidia-smi not found at ${missing}`);
      const s = t.status();
      expect(s.gpuProbe).toMatchObject({ kind: 'nvidia-smi', available: false, ageMs: null });
      expect(s.gpuProbe!.error).toBe(`nvidia-smi not found at ${missing}`);
      expect(s.gpus).toEqual([]);
      const res = await t.chat('m');
      expect(res.status).toBe(503);
      expect(res.json.error.code).toBe('insufficient_vram');
      expect(t.runtime.starts).toEqual([]);
      await t.close();
    } finally {
      tmp.remove();
    }
  });
});
