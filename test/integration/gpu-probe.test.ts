// The nvidia-smi probe against test/fixtures/fake-nvidia-smi.mjs, with real child processes
// declaring simulated allocations (`--mock-vram-mib`), found by the fake's /proc scan.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { attributeGpuMemory, type ManagedModel } from '../../gateway/gpu/attribution.js';
import { availableMiB } from '../../gateway/scheduler/placement.js';
import { createGpuProbe } from '../../gateway/gpu/create-probe.js';
import { findNvidiaSmi, NvidiaSmiProbe } from '../../gateway/gpu/nvidia-smi-probe.js';
import type { GpuSnapshot } from '../../gateway/gpu/probe.js';
import { descendantPids } from '../../gateway/gpu/process-tree.js';
import {
  cleanupGpuTests,
  ENGINE_LAUNCHER,
  FAKE_NVIDIA_SMI as FAKE,
  fakeNvidiaSmiRunning,
  fakeStateFile,
  fakeStateKey,
  MOCK_VLLM,
  spawnHolder,
  startGpuGateway,
} from './gpu-helpers.js';
import { killChild } from './helpers.js';

/**
 * Memory a start may claim on each GPU, computed as the scheduler's placement does: memory the
 * attribution cannot give to a managed model counts as other, and active models hold their budgets.
 */
function availableBySnapshot(snap: GpuSnapshot, models: ReadonlyMap<string, ManagedModel>, reserveGiB: number): Map<number, number> {
  const attribution = attributeGpuMemory(snap, models);
  const placed = [...models]
    .filter(([, m]) => m.active)
    .map(([id, m]) => ({ id, gpus: [...m.gpus], budgetMiB: m.budgetMiB, lastUsedAt: 0, busy: false, pinned: false, evictable: true }));
  return new Map(
    snap.gpus.map((g, i) => [
      g.index,
      availableMiB(
        { index: g.index, totalMiB: g.totalMiB, reservedMiB: g.reservedMiB, otherMiB: attribution.gpus[i].otherMiB },
        Math.round(reserveGiB * 1024),
        placed,
      ),
    ]),
  );
}

const CAPTURES = fileURLToPath(new URL('../fixtures/nvidia-smi/', import.meta.url));
const IS_LINUX = process.platform === 'linux';

let dir: string;
const children: ChildProcess[] = [];
/** Process groups started by the test (a launcher and the children it started). */
const groups: number[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'gpu-probe-test-'));
});
afterEach(async () => {
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
  await Promise.all(children.splice(0).map((c) => killChild(c)));
  await cleanupGpuTests();
  for (const f of stateFiles.splice(0)) rmSync(f, { force: true });
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** State files of the fake (FAKE_NVIDIA_SMI_STATE), removed after each test. */
const stateFiles: string[] = [];
function stateKey(): string {
  const key = fakeStateKey('gpu-probe');
  stateFiles.push(fakeStateFile(key));
  return key;
}

/** Environment for one test: its own scope (so other test files' mock servers are not seen). */
function fakeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv & { FAKE_NVIDIA_SMI_SCOPE: string } {
  return { ...process.env, FAKE_NVIDIA_SMI_SCOPE: randomUUID(), ...extra };
}

function probe(env: NodeJS.ProcessEnv, over: Partial<ConstructorParameters<typeof NvidiaSmiProbe>[0]> = {}): NvidiaSmiProbe {
  return new NvidiaSmiProbe({ path: FAKE, pollSeconds: 1, env, ...over });
}

/** A process holding `mib` on `gpu` (as the fake sees it); resolves once it runs. */
async function holder(env: NodeJS.ProcessEnv, mib: number, gpu = 0): Promise<ChildProcess> {
  const { child, ready } = spawnHolder(env, mib, gpu);
  children.push(child);
  await ready;
  return child;
}

/**
 * A parent that spawns a holder child (like `vllm serve` starting its engine core), in a process
 * group of its own that afterEach kills whole, the child with it.
 */
async function parentWithChild(env: NodeJS.ProcessEnv, mib: number): Promise<{ parent: ChildProcess; childPid: number }> {
  const parent = spawn(process.execPath, [ENGINE_LAUNCHER, '--child-mib', String(mib)], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  groups.push(parent.pid!);
  children.push(parent);
  const childPid = await new Promise<number>((resolve) => parent.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
  return { parent, childPid };
}

function exited(c: ChildProcess): Promise<void> {
  return c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
}

// Linux only: the fake finds simulated allocations by scanning /proc.
describe.runIf(IS_LINUX)('nvidia-smi probe with the fake executable', () => {
  it('reads GPUs and processes; polls on its own', async () => {
    const env = fakeEnv({ FAKE_NVIDIA_SMI_GPUS: 'NVIDIA H200:143771,NVIDIA H200:143771' });
    const h = await holder(env, 2048, 1);
    const p = probe(env, { pollSeconds: 0.1 });
    const readings: GpuSnapshot[] = [];
    const off = p.onReading((s) => readings.push(s));
    p.start();
    await expect.poll(() => readings.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    p.stop();
    off();
    const last = readings.at(-1)!;
    expect(last.measured).toBe(true);
    expect(last.gpus.map((g) => [g.index, g.uuid, g.totalMiB, g.reservedMiB, g.usedMiB])).toEqual([
      [0, 'GPU-fake-0', 143771, 616, 0],
      [1, 'GPU-fake-1', 143771, 616, 2048],
    ]);
    expect(last.processes).toEqual([{ pid: h.pid, gpuIndex: 1, usedMiB: 2048 }]);
    expect(p.state().error).toBeNull();
    expect(p.state().pollMs).toBeGreaterThan(0);
    // stamps are the poll start times, increasing
    for (let i = 1; i < readings.length; i++) expect(readings[i]!.at).toBeGreaterThan(readings[i - 1]!.at);
  });

  it('stop() stops it: no poll is scheduled after stop(), however long one waits', async () => {
    // The probe's own timers are faked (the fake nvidia-smi it runs is still a real process), so
    // "later" is exact: a probe that kept polling would run the fake once the clock moves.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const p = probe(fakeEnv(), { pollSeconds: 0.1 });
      /** Resolves once a poll has ended and the probe has (or has not) scheduled the next one. */
      const nextReading = () =>
        new Promise<void>((resolve) => {
          const off = p.onReading(() => {
            off();
            setImmediate(resolve); // after the poll chain's .finally, which schedules the next tick
          });
        });
      let reading = nextReading();
      p.start();
      await reading;
      expect(p.calls).toBe(2); // one poll = the GPU query + the compute-apps query
      expect(vi.getTimerCount()).toBe(1); // the next tick
      // It does poll on its own once the interval passes…
      reading = nextReading();
      vi.advanceTimersByTime(100);
      expect(p.calls).toBe(4);
      await reading;
      expect(vi.getTimerCount()).toBe(1);
      // …and after stop() nothing is left scheduled and nothing runs.
      p.stop();
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(60_000);
      expect(p.calls).toBe(4);
    } finally {
      vi.useRealTimers();
    }
  });

  it('stop() resolves once the poll in flight has ended: no nvidia-smi outlives it', async () => {
    const log = path.join(dir, `calls-${randomUUID()}.log`);
    const env = fakeEnv({ FAKE_NVIDIA_SMI_DELAY_MS: '400', FAKE_NVIDIA_SMI_CALL_LOG: log });
    const p = probe(env, { pollSeconds: 0.1 });
    p.start();
    // Both queries of the first poll have started (each logs its call before the 400 ms delay).
    await expect.poll(() => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').length : 0)).toBe(2);
    expect(fakeNvidiaSmiRunning(env.FAKE_NVIDIA_SMI_SCOPE).length).toBeGreaterThan(0);
    await p.stop();
    expect(fakeNvidiaSmiRunning(env.FAKE_NVIDIA_SMI_SCOPE)).toEqual([]);
    expect(p.calls).toBe(2);
  });

  it("the gateway's close() waits for the nvidia-smi call in flight, and leaves no state file", async () => {
    const t = await startGpuGateway({ fakeEnv: { FAKE_NVIDIA_SMI_DELAY_MS: '400' }, models: {} });
    try {
      // Polls run back to back (each takes longer than pollSeconds): one is in flight now or soon.
      await expect.poll(() => fakeNvidiaSmiRunning(t.scope).length, { interval: 10 }).toBeGreaterThan(0);
      await t.gw.close();
      expect(fakeNvidiaSmiRunning(t.scope)).toEqual([]);
    } finally {
      await t.close();
    }
    expect(existsSync(fakeStateFile(t.scope))).toBe(false);
  });

  it('one poll at a time: concurrent refresh() callers share it', async () => {
    const log = path.join(dir, `calls-${randomUUID()}.log`);
    const env = fakeEnv({ FAKE_NVIDIA_SMI_DELAY_MS: '300', FAKE_NVIDIA_SMI_CALL_LOG: log });
    const p = probe(env);
    const all = await Promise.all(Array.from({ length: 10 }, () => p.refresh()));
    expect(new Set(all).size).toBe(1);
    expect(p.calls).toBe(2); // one poll = the GPU query + the compute-apps query
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.filter((l) => l.includes('--query-gpu=')).length).toBe(1);
    expect(lines.filter((l) => l.includes('--query-compute-apps=')).length).toBe(1);
    // and a later refresh is a new poll
    const next = await p.refresh();
    expect(next).not.toBe(all[0]);
    expect(p.calls).toBe(4);
  });

  it('a failing poll keeps the last good reading and says why; recovery clears the error', async () => {
    const failFile = path.join(dir, `fail-${randomUUID()}`);
    const env = fakeEnv({ FAKE_NVIDIA_SMI_FAIL_FILE: failFile });
    const p = probe(env);
    const good = await p.refresh();
    writeFileSync(failFile, '');
    await expect(p.refresh()).rejects.toThrow('nvidia-smi failed: Failed to initialize NVML: Driver/library version mismatch');
    expect(p.state().snapshot).toBe(good);
    expect(p.state().error).toBe('nvidia-smi failed: Failed to initialize NVML: Driver/library version mismatch');
    rmSync(failFile);
    const again = await p.refresh();
    expect(again.at).toBeGreaterThanOrEqual(good.at);
    expect(p.state()).toMatchObject({ snapshot: again, error: null });
  });

  it('FAKE_NVIDIA_SMI_FAIL=1 from the start: no snapshot, an error', async () => {
    const p = probe(fakeEnv({ FAKE_NVIDIA_SMI_FAIL: '1' }));
    p.start();
    await expect.poll(() => p.state().error, { timeout: 10_000 }).toMatch(/^nvidia-smi failed: Failed to initialize NVML/);
    p.stop();
    expect(p.state().snapshot).toBeNull();
  });

  it('an absent binary', async () => {
    const missing = path.join(dir, 'no-such-dir', 'nvidia-smi');
    const p = probe(process.env, { path: missing });
    await expect(p.refresh()).rejects.toThrow(`nvidia-smi not found at ${missing}`);
    expect(p.state()).toMatchObject({ snapshot: null, error: `nvidia-smi not found at ${missing}` });
    expect(await findNvidiaSmi(missing)).toBe(false);
    expect(await findNvidiaSmi('nvidia-smi', path.join(dir, 'empty'))).toBe(false);
  });

  it('a hung nvidia-smi times out', async () => {
    const p = probe(fakeEnv({ FAKE_NVIDIA_SMI_DELAY_MS: '5000' }), { timeoutMs: 300 });
    const t0 = Date.now();
    await expect(p.refresh()).rejects.toThrow('nvidia-smi timed out after 300 ms');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('old drivers without memory.reserved: falls back to the shorter query', async () => {
    const p = probe(fakeEnv({ FAKE_NVIDIA_SMI_OLD_DRIVER: '1' }));
    const s = await p.refresh();
    expect(s.gpus[0]).toMatchObject({ totalMiB: 143771, reservedMiB: 0 });
    expect(p.state().error).toBeNull();
    expect(p.calls).toBe(4); // first poll failed once, then retried with the shorter list
    await p.refresh();
    expect(p.calls).toBe(6);
  });

  it('findNvidiaSmi looks in PATH; createGpuProbe(auto) picks the executable it finds', async () => {
    const bin = path.join(dir, `bin-${randomUUID()}`);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bin);
    symlinkSync(FAKE, path.join(bin, 'nvidia-smi'));
    expect(await findNvidiaSmi('nvidia-smi', `/nonexistent:${bin}`)).toBe(true);
    expect(await findNvidiaSmi(path.join(bin, 'nvidia-smi'))).toBe(true);
    const p = await createGpuProbe({
      probe: 'auto',
      nvidiaSmiPath: path.join(bin, 'nvidia-smi'),
      pollSeconds: 1,
      reserveGiB: 0.5,
      static: [],
    });
    expect(p?.kind).toBe('nvidia-smi');
    const s = await p!.refresh();
    expect(s.gpus[0]?.name).toBe('NVIDIA H200');
  });

  it("attributes a model's child process memory via its process tree; other processes lower availability", async () => {
    const env = fakeEnv({ FAKE_NVIDIA_SMI_EXTRA: '0:4096' });
    const { parent, childPid } = await parentWithChild(env, 3072);
    const stranger = await holder(env, 1024); // not the gateway's
    const pids = await descendantPids([parent.pid!]);
    expect(pids).toContain(parent.pid);
    expect(pids).toContain(childPid);
    expect(pids).not.toContain(stranger.pid);

    const snap = await probe(env).refresh();
    const models = new Map<string, ManagedModel>([['qwen', { pids: new Set(pids), gpus: [0], budgetMiB: 4096, active: true }]]);
    const a = attributeGpuMemory(snap, models);
    expect(a.models.get('qwen')).toEqual({ vramUsedMiB: 3072 });
    expect(a.gpus[0]).toMatchObject({ usedMiB: 3072 + 1024 + 4096, models: [{ id: 'qwen', usedMiB: 3072 }], otherMiB: 1024 + 4096 });
    // total − reserved − reserve − other processes − the model's budget
    expect(availableBySnapshot(snap, models, 0.5).get(0)).toBe(143771 - 616 - 512 - (1024 + 4096) - 4096);
  });

  it('sees the mock vLLM server by its --mock-vram-mib flag', async () => {
    const env = fakeEnv({ FAKE_NVIDIA_SMI_GPUS: 'NVIDIA H200:143771,NVIDIA H200:143771' });
    const mock = spawn(
      process.execPath,
      [MOCK_VLLM, 'serve', 'some/model', '--port', '0', '--mock-vram-mib', '12345', '--mock-gpu-index', '1'],
      {
        env,
        stdio: 'ignore',
      },
    );
    children.push(mock);
    const p = probe(env);
    await expect
      .poll(async () => (await p.refresh()).processes, { timeout: 10_000 })
      .toEqual([{ pid: mock.pid, gpuIndex: 1, usedMiB: 12345 }]);
    expect(p.state().snapshot!.gpus[1]!.usedMiB).toBe(12345);
  });

  it('multi-GPU: a tensor-parallel model on both GPUs', async () => {
    const env = fakeEnv({ FAKE_NVIDIA_SMI_GPUS: 'NVIDIA H200:143771,NVIDIA H200:143771' });
    const w0 = await holder(env, 20000, 0);
    const w1 = await holder(env, 20000, 1);
    const snap = await probe(env).refresh();
    const models = new Map<string, ManagedModel>([
      ['tp', { pids: new Set([w0.pid!, w1.pid!]), gpus: [0, 1], budgetMiB: 20480, active: true }],
    ]);
    const a = attributeGpuMemory(snap, models);
    expect(a.models.get('tp')).toEqual({ vramUsedMiB: 40000 });
    expect(a.gpus.map((g) => g.models)).toEqual([[{ id: 'tp', usedMiB: 20000 }], [{ id: 'tp', usedMiB: 20000 }]]);
    const av = availableBySnapshot(snap, models, 0);
    expect(av.get(0)).toBe(143771 - 616 - 20480);
    expect(av.get(1)).toBe(143771 - 616 - 20480);
  });

  it('eviction: the memory counts as used until the GPU measures it released', async () => {
    const env = fakeEnv({
      FAKE_NVIDIA_SMI_GPUS: 'Small GPU:10000',
      FAKE_NVIDIA_SMI_STATE: stateKey(),
      FAKE_NVIDIA_SMI_RELEASE_DELAY_MS: '800',
    });
    const victim = await holder(env, 6000);
    const p = probe(env);
    const before = await p.refresh();
    expect(before.gpus[0]!.usedMiB).toBe(6000);
    const models = new Map<string, ManagedModel>([['victim', { pids: new Set([victim.pid!]), gpus: [0], budgetMiB: 6000, active: true }]]);
    expect(availableBySnapshot(before, models, 0).get(0)).toBe(10000 - 616 - 6000);

    // evict: the model is no longer active, its process is gone
    victim.kill('SIGKILL');
    await exited(victim);
    const evictedAt = Date.now();
    models.get('victim')!.active = false;
    const need = 6000;
    const right = await p.refresh();
    expect(right.processes).toEqual([]); // the pid is gone from compute-apps…
    expect(right.gpus[0]!.usedMiB).toBe(6000); // …but the memory is not free yet
    expect(attributeGpuMemory(right, models).gpus[0]!.otherMiB).toBe(6000);
    expect(availableBySnapshot(right, models, 0).get(0)).toBeLessThan(need);

    // what placement does: poll until a reading taken after the eviction shows enough
    let waited: GpuSnapshot | null = null;
    for (let i = 0; i < 100; i++) {
      const s = await p.refresh();
      if (s.at >= evictedAt && availableBySnapshot(s, models, 0).get(0)! >= need) {
        waited = s;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const waitedMs = Date.now() - evictedAt;
    expect(waited).not.toBeNull();
    expect(waited!.gpus[0]!.usedMiB).toBe(0);
    expect(waitedMs).toBeGreaterThanOrEqual(700);
    expect(waitedMs).toBeLessThan(5000);
  });

  it('reads the H200 captures through an nvidia-smi that is a shell script printing them', async () => {
    const sh = path.join(dir, 'captures-nvidia-smi.sh');
    writeFileSync(
      sh,
      `#!/bin/sh\ncase "$1" in --query-gpu=*) cat "${CAPTURES}h200-query-gpu-busy.csv";; --query-compute-apps=*) cat "${CAPTURES}h200-query-apps-busy.csv";; esac\n`,
    );
    chmodSync(sh, 0o755);
    const real = probe(process.env, { path: sh });
    const s = await real.refresh();
    expect(s.processes).toEqual([{ pid: 485, gpuIndex: 0, usedMiB: 31238 }]);
    expect(s.gpus.map((g) => [g.index, g.uuid, g.name, g.totalMiB, g.reservedMiB, g.usedMiB])).toEqual([
      [0, 'GPU-a07f9847-dfde-67a1-f877-ace6963ba617', 'NVIDIA H200', 143771, 616, 31247],
    ]);
    expect(real.state().error).toBeNull();
  });
});
