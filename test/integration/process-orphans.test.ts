// No orphan process models (P14 for `runtime: process`): the CLI, killed with SIGKILL while a
// process model runs, leaves the server running; restarted with the same config it adopts that
// server (ready at once, same pid, nothing started beside it); restarted with a changed command it
// kills the leftover before /ready answers 200 and starts a new server on the next request. The GPUs
// a server was given are recorded, and the adopted server is booked on them (not on GPU 0).

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendantPids } from '../../gateway/gpu/process-tree.js';
import { isSameProcess, procStat, readStateFile } from '../../gateway/runtimes/process-state.js';
import { baseYaml, chat, http, post, processModel, waitUntil } from './helpers.js';
import { ensureBuilt } from './ensure-built.js';
import { serveCli, spawnServe, type CliServe } from './cli-serve.js';

/** Every process these tests caused, by pid and start time, so cleanup kills only those. */
const started: Array<{ pid: number; startTime: number; group: boolean }> = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const p of started) {
    if (!(await isSameProcess(p.pid, p.startTime))) continue;
    try {
      process.kill(p.group ? -p.pid : p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function remember(pid: number, group: boolean): Promise<void> {
  const s = await procStat(pid);
  if (s) started.push({ pid, startTime: s.startTime, group });
}

/** `serve` as a user runs it, its process remembered for the leak check. */
async function serve(file: string): Promise<CliServe> {
  const s = await serveCli(file);
  await remember(s.child.pid!, false);
  return s;
}

async function sigkill(s: CliServe): Promise<void> {
  s.child.kill('SIGKILL');
  await s.exited;
}

/** The model's status entry. */
async function modelStatus(url: string, id: string) {
  const res = await http(url, '/gateway/status');
  return res.json.models.find((m: { id: string }) => m.id === id) as { state: string; endpoint: string | null; gpus: number[] };
}

/** A temporary config file path (removed after the tests) and the process state file the gateway keeps beside it. */
function configFiles(prefix: string): { file: string; stateFile: string } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  const file = path.join(dir, 'gateway.yaml');
  return { file, stateFile: `${file}.processes.json` };
}

/** Whether the process that had this pid and start time is gone (a zombie nobody reaped counts as gone). */
async function gone(p: { pid: number; startTime: number }): Promise<boolean> {
  return !(await isSameProcess(p.pid, p.startTime));
}

describe.runIf(process.platform === 'linux')('process models after the gateway was killed with SIGKILL', () => {
  // The gateway runs from dist/: build it first when it is missing or older than the sources (tsc is slow on a loaded machine).
  beforeAll(ensureBuilt, 240_000);
  it('adopts the running server when the config is unchanged, kills it when the command changed', { timeout: 120_000 }, async () => {
    ensureBuilt();
    const { file, stateFile } = configFiles('gw-orphans-');
    writeFileSync(file, baseYaml(`models:\n${processModel('orph')}`));
    let gw = await serve(file);
    try {
      // First life: a request starts the model.
      expect((await post(gw.url, '/v1/chat/completions', chat('orph'))).status).toBe(200);
      const endpoint = (await modelStatus(gw.url, 'orph')).endpoint!;
      const pid: number = (await http(endpoint, '/mock/stats')).json.pid;
      await remember(pid, true);
      const mock = started.find((p) => p.pid === pid)!;
      expect(statSync(stateFile).mode & 0o777).toBe(0o600);
      const [record] = await readStateFile(stateFile);
      expect(record).toMatchObject({ modelId: 'orph', pid, startTime: mock.startTime, port: Number(new URL(endpoint).port) });

      await sigkill(gw);
      expect(await gone(mock)).toBe(false); // left running by the killed gateway

      // (a) Same config: adopted, ready at once, the same process, nothing started beside it.
      gw = await serve(file);
      expect(gw.output()).toMatch(/adopted running process model server/);
      const adopted = await modelStatus(gw.url, 'orph');
      expect(adopted.state).toBe('ready');
      expect(adopted.endpoint).toBe(endpoint);
      expect((await http(gw.url, '/ready')).status).toBe(200);
      expect((await http(endpoint, '/mock/stats')).json.pid).toBe(pid);
      const res = await post(gw.url, '/v1/chat/completions', chat('orph'));
      expect(res.status).toBe(200);
      expect((await http(endpoint, '/mock/stats')).json.pid).toBe(pid);
      expect(await descendantPids([gw.child.pid!], { includeRoots: false })).toEqual([]); // no second mock
      expect((await readStateFile(stateFile)).map((r) => r.pid)).toEqual([pid]);

      await sigkill(gw);
      expect(await gone(mock)).toBe(false);

      // (b) A changed command: the leftover is killed before /ready answers 200; the next request starts a new one.
      writeFileSync(file, baseYaml(`models:\n${processModel('orph', { knobs: ['--mock-tokens', 3] })}`));
      gw = await serve(file);
      const ready = await waitUntil(async () => (await http(gw.url, '/ready')).status === 200, 10_000, '/ready 200').then(() => true);
      expect(ready).toBe(true);
      expect(await gone(mock)).toBe(true);
      expect(gw.output()).toMatch(/killing leftover process model server/);
      expect((await modelStatus(gw.url, 'orph')).state).not.toBe('ready');
      expect(existsSync(stateFile)).toBe(false);
      const again = await post(gw.url, '/v1/chat/completions', chat('orph'));
      expect(again.status).toBe(200);
      const endpoint2 = (await modelStatus(gw.url, 'orph')).endpoint!;
      const pid2: number = (await http(endpoint2, '/mock/stats')).json.pid;
      await remember(pid2, true);
      expect(pid2).not.toBe(pid);
      expect((await readStateFile(stateFile)).map((r) => r.pid)).toEqual([pid2]);
      expect(JSON.parse(readFileSync(stateFile, 'utf8')).processes).toHaveLength(1);

      // (c) Adopted again, then a graceful shutdown (SIGTERM) stops the adopted server and clears the record.
      await sigkill(gw);
      gw = await serve(file);
      expect((await modelStatus(gw.url, 'orph')).state).toBe('ready');
      gw.child.kill('SIGTERM');
      const stopping = Date.now();
      expect(await gw.exited).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(5000); // the drain and the stop, not a grace timer left running
      expect(await gone(started.find((p) => p.pid === pid2)!)).toBe(true);
      expect(existsSync(stateFile)).toBe(false);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- serve output:\n${gw.output().slice(-3000)}`, { cause: err });
    } finally {
      if (gw.child.exitCode === null && gw.child.signalCode === null) await sigkill(gw);
    }
  });

  it('records the GPUs a server was given, and books the adopted server on them after a restart', { timeout: 120_000 }, async () => {
    ensureBuilt();
    const { file, stateFile } = configFiles('gw-orphans-gpus-');
    // Two static GPUs of different sizes; `fixed` takes GPU 0, so `roam` (gpus: auto) is placed on GPU 1,
    // with GPU 1's memory share: adoption must compare its config on GPU 1, not on GPU 0.
    const twoGpus = 'gpu: { probe: static, reserveGiB: 0.5, static: [{ name: "G0", totalGiB: 24 }, { name: "G1", totalGiB: 48 }] }';
    const models = `models:\n${processModel('fixed', { vramGiB: 20, extra: 'gpus: [0]' })}\n${processModel('roam', { vramGiB: 20 })}`;
    writeFileSync(file, baseYaml(models).replace(/^gpu: .*$/m, twoGpus));
    const perGpu = async (url: string) =>
      ((await http(url, '/gateway/status')).json.gpus as Array<{ index: number; models: Array<{ id: string }> }>).map((g) => [
        g.index,
        g.models.map((m) => m.id),
      ]);
    let gw = await serve(file);
    try {
      expect((await post(gw.url, '/v1/chat/completions', chat('fixed'))).status).toBe(200);
      expect((await post(gw.url, '/v1/chat/completions', chat('roam'))).status).toBe(200);
      const roam = await modelStatus(gw.url, 'roam');
      expect(roam.gpus).toEqual([1]);
      const pid: number = (await http(roam.endpoint!, '/mock/stats')).json.pid;
      await remember(pid, true);
      const fixedPid: number = (await http((await modelStatus(gw.url, 'fixed')).endpoint!, '/mock/stats')).json.pid;
      await remember(fixedPid, true);
      // The server runs on GPU 1, and the state file says so.
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('CUDA_VISIBLE_DEVICES=1');
      const records = await readStateFile(stateFile);
      expect(records.find((r) => r.modelId === 'roam')).toMatchObject({ pid, gpuIndices: [1] });
      expect(records.find((r) => r.modelId === 'fixed')).toMatchObject({ pid: fixedPid, gpuIndices: [0] });
      expect(await perGpu(gw.url)).toEqual([
        [0, ['fixed']],
        [1, ['roam']],
      ]);

      await sigkill(gw);
      gw = await serve(file);
      expect(gw.output()).toMatch(/adopted running process model server/);
      const adopted = await modelStatus(gw.url, 'roam');
      expect(adopted).toMatchObject({ state: 'ready', endpoint: roam.endpoint, gpus: [1] });
      expect((await http(adopted.endpoint!, '/mock/stats')).json.pid).toBe(pid);
      // Booked where it runs: GPU 1 holds roam, GPU 0 holds fixed only.
      expect(await perGpu(gw.url)).toEqual([
        [0, ['fixed']],
        [1, ['roam']],
      ]);
      // Both still fit side by side: a request to each is served by the adopted servers, none restarted.
      expect((await post(gw.url, '/v1/chat/completions', chat('roam'))).status).toBe(200);
      expect((await post(gw.url, '/v1/chat/completions', chat('fixed'))).status).toBe(200);
      expect(await descendantPids([gw.child.pid!], { includeRoots: false })).toEqual([]);
      expect((await readStateFile(stateFile)).map((r) => [r.modelId, r.pid, r.gpuIndices])).toEqual(
        expect.arrayContaining([
          ['roam', pid, [1]],
          ['fixed', fixedPid, [0]],
        ]),
      );
      gw.child.kill('SIGTERM');
      expect(await gw.exited).toBe(0);
      expect(existsSync(stateFile)).toBe(false);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- serve output:\n${gw.output().slice(-3000)}`, { cause: err });
    } finally {
      if (gw.child.exitCode === null && gw.child.signalCode === null) await sigkill(gw);
    }
  });

  it('a second gateway on the same config while the first runs leaves the first’s servers alone', { timeout: 120_000 }, async () => {
    ensureBuilt();
    const { file, stateFile } = configFiles('gw-orphans-twice-');
    writeFileSync(file, baseYaml(`models:\n${processModel('twice')}`));
    const gw = await serve(file);
    let out = '';
    try {
      expect((await post(gw.url, '/v1/chat/completions', chat('twice'))).status).toBe(200);
      const endpoint = (await modelStatus(gw.url, 'twice')).endpoint!;
      const pid: number = (await http(endpoint, '/mock/stats')).json.pid;
      await remember(pid, true);
      const mock = started.find((p) => p.pid === pid)!;

      // Run again by mistake, on the port in use: it cannot listen and exits 1. It must neither adopt
      // the running gateway's server (and stop it on its way out) nor kill it as a leftover.
      const second = spawnServe(file, Number(new URL(gw.url).port));
      await remember(second.pid!, false);
      second.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      second.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      expect(await new Promise<number | null>((r) => second.once('exit', (code) => r(code)))).toBe(1);
      expect(out).toMatch(/EADDRINUSE/);
      expect(out).not.toMatch(/adopted running process model server|killing leftover/);
      expect(await gone(mock)).toBe(false);
      expect((await modelStatus(gw.url, 'twice')).state).toBe('ready');
      expect((await post(gw.url, '/v1/chat/completions', chat('twice'))).status).toBe(200);
      expect((await http(endpoint, '/mock/stats')).json.pid).toBe(pid);
      expect((await readStateFile(stateFile)).map((r) => r.pid)).toEqual([pid]);

      // The same with a free port: both run; the second starts its own server, the first keeps its own.
      const third = await serve(file);
      try {
        expect(third.output()).not.toMatch(/adopted running process model server|killing leftover/);
        expect((await modelStatus(third.url, 'twice')).state).toBe('stopped');
        third.child.kill('SIGTERM');
        expect(await third.exited).toBe(0);
      } finally {
        if (third.child.exitCode === null && third.child.signalCode === null) await sigkill(third);
      }
      expect(await gone(mock)).toBe(false);
      expect((await post(gw.url, '/v1/chat/completions', chat('twice'))).status).toBe(200);

      // Killed with SIGKILL, its server is a leftover again: the next gateway adopts it.
      await sigkill(gw);
      const next = await serve(file);
      try {
        expect(next.output()).toMatch(/adopted running process model server/);
        expect((await modelStatus(next.url, 'twice')).endpoint).toBe(endpoint);
        next.child.kill('SIGTERM');
        expect(await next.exited).toBe(0);
      } finally {
        if (next.child.exitCode === null && next.child.signalCode === null) await sigkill(next);
      }
      expect(await gone(mock)).toBe(true);
      expect(existsSync(stateFile)).toBe(false);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- serve output:\n${gw.output().slice(-3000)}\n--- second:\n${out.slice(-2000)}`, {
        cause: err,
      });
    } finally {
      if (gw.child.exitCode === null && gw.child.signalCode === null) await sigkill(gw);
    }
  });
});
