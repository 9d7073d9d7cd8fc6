// The process model state file (P14 for `runtime: process`): atomic 0600 writes, tolerant reads, the
// /proc start-time check that keeps a recycled pid from being taken for ours, the config hash, and
// ProcessRuntime.reconcile against real (short-lived, detached) processes.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ProcessModelConfig } from '../../gateway/config/types.js';
import {
  groupMembers,
  isSameProcess,
  parseProcStat,
  parseStateText,
  procStat,
  processModelHash,
  readStateFile,
  writeStateFile,
  type ProcessRecord,
} from '../../gateway/runtimes/process-state.js';
import { ProcessRuntime } from '../../gateway/runtimes/process-runtime.js';

const linux = process.platform === 'linux';
const dirs: string[] = [];
const spawned: Array<{ pid: number; startTime: number }> = [];

function tmpDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'gw-pstate-'));
  dirs.push(d);
  return d;
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

afterAll(async () => {
  // Only the processes these tests started, by pid, and only while they are still those processes.
  for (const p of spawned) if (await isSameProcess(p.pid, p.startTime)) process.kill(-p.pid, 'SIGKILL');
});

const rec = (over: Partial<ProcessRecord> = {}): ProcessRecord => ({
  modelId: 'm',
  pid: 4242,
  startTime: 123456,
  port: 40000,
  hash: 'abc',
  ...over,
});

describe('parseProcStat', () => {
  it('reads state, pgid (field 5) and start time (field 22), whatever the comm holds', () => {
    const fields = ['S', '1', '777', '777', '0', '-1', '4194560', '100', '0', '0', '0', '5', '3', '0', '0', '20', '0', '1', '0', '987654'];
    const stat = `4321 (we ird) (name) ${fields.join(' ')} 12345 678 18446744073709551615`;
    expect(parseProcStat(stat)).toEqual({ state: 'S', pgid: 777, startTime: 987654 });
    expect(parseProcStat('garbage')).toBeNull();
    expect(parseProcStat('1 (x) S 0')).toBeNull();
  });

  it.runIf(linux)('reads this process', async () => {
    const s = await procStat(process.pid);
    expect(s).not.toBeNull();
    expect(s!.startTime).toBeGreaterThan(0);
    expect(await isSameProcess(process.pid, s!.startTime)).toBe(true);
    expect(await isSameProcess(process.pid, s!.startTime + 1)).toBe(false); // a recycled pid: not ours
    expect(await isSameProcess(2 ** 22 + 12345, s!.startTime)).toBe(false); // no such pid
  });
});

describe('state file', () => {
  it('writes atomically with mode 0600, reads back, and is removed when empty', async () => {
    const file = path.join(tmpDir(), 'gateway.yaml.processes.json');
    const records = [rec(), rec({ modelId: 'n', pid: 4343, port: 40001 })];
    await writeStateFile(file, records);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await readStateFile(file)).toEqual(records);
    expect(readdirSync(path.dirname(file))).toEqual([path.basename(file)]); // no temporary file left
    await writeStateFile(file, [records[1]]);
    expect(await readStateFile(file)).toEqual([records[1]]);
    await writeStateFile(file, []);
    expect(readdirSync(path.dirname(file))).toEqual([]);
    await writeStateFile(file, []); // already gone: fine
  });

  it('reads a missing, corrupt or foreign file as empty and drops malformed entries', async () => {
    const dir = tmpDir();
    expect(await readStateFile(path.join(dir, 'none.json'))).toEqual([]);
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{"processes": [');
    expect(await readStateFile(file)).toEqual([]);
    expect(parseStateText('[1,2]')).toEqual([]);
    expect(parseStateText('{"processes": "x"}')).toEqual([]);
    const good = rec();
    const text = JSON.stringify({
      version: 1,
      processes: [
        good,
        { ...good, pid: 1 },
        { ...good, pid: -5 },
        { ...good, port: 70000 },
        { ...good, hash: 3 },
        null,
        { ...good, extra: 1 },
      ],
    });
    expect(parseStateText(text)).toEqual([good, good]);
  });

  it('keeps the GPUs a server was given; a record without them (an older file) still reads', () => {
    const onGpu1 = rec({ gpuIndices: [1] });
    const text = JSON.stringify({
      version: 1,
      processes: [onGpu1, rec(), { ...onGpu1, gpuIndices: [-1] }, { ...onGpu1, gpuIndices: '1' }],
    });
    expect(parseStateText(text)).toEqual([onGpu1, rec()]);
  });
});

describe('processModelHash', () => {
  const model = (over: Partial<ProcessModelConfig> = {}): ProcessModelConfig =>
    ({
      id: 'm',
      runtime: 'process',
      command: ['vllm', 'serve', 'x', '--port', '${PORT}'],
      args: [],
      env: { A: '1', B: '2' },
      vramGiB: 4,
      gpus: 'auto',
      healthPath: '/health',
      ...over,
    }) as ProcessModelConfig;

  it('is stable, ignores env key order, and changes with the command, args, env, GPUs and utilization', () => {
    const h = processModelHash(model(), 0.16);
    expect(processModelHash(model(), 0.16)).toBe(h);
    expect(processModelHash(model({ env: { B: '2', A: '1' } }), 0.16)).toBe(h);
    expect(processModelHash(model({ command: ['vllm', 'serve', 'y', '--port', '${PORT}'] }), 0.16)).not.toBe(h);
    expect(processModelHash(model({ args: ['--x'] }), 0.16)).not.toBe(h);
    expect(processModelHash(model({ env: { A: '1', B: '3' } }), 0.16)).not.toBe(h);
    expect(processModelHash(model({ gpus: [1] }), 0.16)).not.toBe(h);
    expect(processModelHash(model(), 0.2)).not.toBe(h);
  });
});

/** A detached process (its own group) that lives until killed. */
async function detachedSleeper(): Promise<{ pid: number; startTime: number }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
  child.unref();
  const pid = child.pid!;
  const s = await procStat(pid);
  const p = { pid, startTime: s!.startTime };
  spawned.push(p);
  return p;
}

describe.runIf(linux)('ProcessRuntime.reconcile', () => {
  it('kills the group of a leftover whose model is gone, spares a pid whose start time differs, rewrites the file', async () => {
    const dir = tmpDir();
    const stateFile = path.join(dir, 'g.yaml.processes.json');
    const leftover = await detachedSleeper();
    const stranger = await detachedSleeper(); // recorded with another start time: a recycled pid
    await writeStateFile(stateFile, [
      rec({ modelId: 'gone', pid: leftover.pid, startTime: leftover.startTime }),
      rec({ modelId: 'gone', pid: stranger.pid, startTime: stranger.startTime - 1 }),
    ]);
    const rt = new ProcessRuntime({ configDir: dir, stateFile });
    const started = Date.now();
    const adopted = await rt.reconcile([]);
    expect(adopted.size).toBe(0);
    expect(Date.now() - started).toBeLessThan(4000); // SIGTERM was enough
    expect(await isSameProcess(leftover.pid, leftover.startTime)).toBe(false);
    expect(await groupMembers(leftover.pid, leftover.startTime)).toEqual([]);
    expect(await isSameProcess(stranger.pid, stranger.startTime)).toBe(true);
    expect(readdirSync(dir)).toEqual([]); // nothing remains: the file is gone
    await rt.close();
  });

  it('without a state file it adopts and kills nothing', async () => {
    const p = await detachedSleeper();
    const rt = new ProcessRuntime({ configDir: tmpDir(), stateFile: null });
    expect((await rt.reconcile([])).size).toBe(0);
    expect(await isSameProcess(p.pid, p.startTime)).toBe(true);
  });

  it('does not adopt a leftover that does not answer its health path (kills it instead)', async () => {
    const dir = tmpDir();
    const stateFile = path.join(dir, 'g.yaml.processes.json');
    const p = await detachedSleeper();
    const model = {
      id: 'm',
      runtime: 'process',
      command: ['x'],
      args: [],
      env: {},
      vramGiB: 1,
      gpus: 'auto',
      healthPath: '/health',
    } as unknown as ProcessModelConfig;
    // A port nothing listens on (the sleeper serves nothing).
    await writeStateFile(stateFile, [
      rec({ modelId: 'm', pid: p.pid, startTime: p.startTime, port: 1, hash: processModelHash(model, 0.5) }),
    ]);
    const rt = new ProcessRuntime({ configDir: dir, stateFile });
    const adopted = await rt.reconcile([{ model, gpuIndices: [0], gpuMemoryUtilization: 0.5 }]);
    expect(adopted.size).toBe(0);
    expect(await isSameProcess(p.pid, p.startTime)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});
