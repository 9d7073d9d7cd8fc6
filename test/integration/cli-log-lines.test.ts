// The CLI's lifecycle log lines are written before the action they announce, so a SIGKILL right
// after cannot lose them (request lines alone are batched, up to 100 ms).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSameProcess, readStateFile } from '../../gateway/runtimes/process-state.js';
import { request } from 'undici';
import { spawnServe } from './cli-serve.js';
import { ensureBuilt } from './ensure-built.js';
import { baseYaml, chat, processModel, waitUntil } from './helpers.js';

describe.runIf(process.platform === 'linux')('serve killed with SIGKILL', () => {
  it('the "model ready" line of a model that just became ready is in the log', { timeout: 60_000 }, async () => {
    ensureBuilt();
    const dir = mkdtempSync(path.join(tmpdir(), 'gw-loglines-'));
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(file, baseYaml(`models:\n${processModel('ll1')}`));
    const child = spawnServe(file);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      const url = await waitUntil(() => /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out)?.[1], 20_000, 'serve to listen');
      // A stream's response headers come a few ms after the model became ready: kill right then,
      // well inside the 100 ms a batched line could wait.
      const res = await request(`${url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify(chat('ll1', { stream: true })),
        headers: { 'content-type': 'application/json', 'x-mock-token-delay-ms': '1000' },
      });
      child.kill('SIGKILL');
      await exited;
      expect(res.statusCode).toBe(200);
      await res.body.text().catch(() => '');
      const ready = out.split('\n').filter((l) => l.includes('"msg":"model ready"'));
      expect(ready, out).toHaveLength(1);
      expect(JSON.parse(ready[0]).model).toBe('ll1');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      // The model server outlives a SIGKILLed gateway (it is adopted on the next start): end it here.
      for (const r of await readStateFile(`${file}.processes.json`).catch(() => [])) {
        if (await isSameProcess(r.pid, r.startTime)) process.kill(-r.pid, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
