// GET /gateway/events with subscribers that read nothing: the gateway must not hold every status
// document they missed. While a subscriber's socket is full its documents are skipped (each one
// supersedes the last), and one that stays full for timeouts.idleSeconds is cut. The gateway runs
// as the CLI in a child process, so its RSS is the gateway's alone; a large status document (150
// models with long aliases, ~500 KB) and a steady stream of changes (requests to a remote model,
// up to four documents a second) make an unbounded buffer show within seconds, once the kernel's
// socket buffers (a few MB each) are full: 100 stalled subscribers would hold ~200 MB more each
// second. Each may hold one frame in the gateway (the write that found its socket full).

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serveCli } from './cli-serve.js';
import { ensureBuilt } from './ensure-built.js';
import { baseYaml, chat, cleanupAll, killChild, post, sleep, spawnMock, waitUntil } from './helpers.js';
import { openSocket } from './raw-http.js';

afterAll(cleanupAll);

const SUBSCRIBERS = 100;
const IDLE_SECONDS = 6;
/** RSS growth allowed beyond the one frame each stalled subscriber may hold (heap and GC slack). */
const RSS_SLACK_MIB = 32;

/** The resident set of a process, from /proc/<pid>/status (kB). */
function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** Opens GET /gateway/events on a raw socket and stops reading from it at once. */
async function stalledSubscriber(port: number): Promise<Socket> {
  const s = await openSocket(port);
  s.on('error', () => {});
  s.pause();
  s.write(`GET /gateway/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
  return s;
}

describe.runIf(process.platform === 'linux')('/gateway/events subscribers that read nothing', () => {
  it(
    `100 of them: the gateway's RSS stays bounded, each is cut after idleSeconds, a reading one keeps its stream`,
    { timeout: 120_000 },
    async () => {
      ensureBuilt();
      const mock = await spawnMock(['--served-model-name', 'r0']);
      const alias = (i: number, k: number) => `alias-${String(i).padStart(3, '0')}-${String(k).padStart(2, '0')}-${'x'.repeat(100)}`;
      const aliases = (i: number) => Array.from({ length: 20 }, (_, k) => `"${alias(i, k)}"`).join(', ');
      const models = Array.from({ length: 150 }, (_, i) => `  r${i}: { runtime: remote, url: "${mock.url}", aliases: [${aliases(i)}] }`);
      const dir = mkdtempSync(path.join(tmpdir(), 'gw-events-'));
      const file = path.join(dir, 'gateway.yaml');
      writeFileSync(
        file,
        baseYaml(`models:\n${models.join('\n')}`, {
          timeouts: `{ connectSeconds: 2, firstByteSeconds: 10, idleSeconds: ${IDLE_SECONDS}, startSeconds: 15 }`,
        }),
      );
      let child: ChildProcess | null = null;
      const sockets: Socket[] = [];
      let driving = true;
      try {
        const gw = await serveCli(file);
        child = gw.child;
        const { url, output } = gw;
        const port = Number(new URL(url).port);
        const pid = child.pid!;

        // A subscriber that reads: it must keep getting documents throughout.
        const reader = await openSocket(port);
        let readerFrames = 0;
        let readerBytes = 0;
        let readerClosed = false;
        reader.on('data', (c: Buffer) => {
          readerBytes += c.length;
          readerFrames += c.toString('latin1').split('event: status\n').length - 1;
        });
        reader.on('close', () => (readerClosed = true));
        reader.on('error', () => {});
        reader.write(`GET /gateway/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
        await waitUntil(() => readerFrames >= 2, 10_000, 'the first documents');
        const frameMiB = readerBytes / readerFrames / 2 ** 20;
        const limitMiB = SUBSCRIBERS * frameMiB * 1.25 + RSS_SLACK_MIB;

        for (let i = 0; i < SUBSCRIBERS; i++) sockets.push(await stalledSubscriber(port));
        const closedAt = new Map<Socket, number>();
        const opened = performance.now();
        for (const s of sockets) s.once('close', () => closedAt.set(s, performance.now()));

        await sleep(500);
        const baseline = rssMiB(pid);
        // Requests one after another: each changes the status (inFlight 1, then 0).
        const drive = (async () => {
          while (driving) await post(url, '/v1/chat/completions', chat('r0', { max_tokens: 2 })).catch(() => sleep(50));
        })();
        let peak = baseline;
        const cuts = () => output().match(/"msg":"status stream cut/g)?.length ?? 0;
        // RSS sampled until every stalled subscriber has been cut, or until it has grown past the limit.
        const deadline = performance.now() + 40_000;
        while (cuts() < SUBSCRIBERS && performance.now() < deadline && peak - baseline < limitMiB) {
          peak = Math.max(peak, rssMiB(pid));
          await sleep(200);
        }
        const framesBefore = readerFrames;
        const what = `RSS ${baseline.toFixed(0)} → peak ${peak.toFixed(0)} MiB; frames of ${(frameMiB * 1024).toFixed(0)} KiB`;
        expect(peak - baseline, what).toBeLessThan(limitMiB);
        expect(cuts(), 'stalled subscribers cut').toBe(SUBSCRIBERS);

        // Each was closed by the server: once read, its socket ends.
        for (const s of sockets) s.resume();
        await waitUntil(() => closedAt.size === SUBSCRIBERS, 10_000, `all ${SUBSCRIBERS} stalled sockets closed (${closedAt.size} so far)`);
        // Not before their socket had been full for idleSeconds (which cannot begin before they opened).
        for (const at of closedAt.values()) expect(at - opened).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 - 50);

        // The reading subscriber is still served.
        await waitUntil(() => readerFrames >= framesBefore + 2, 5000, 'more documents for the reading subscriber');
        expect(readerClosed).toBe(false);
        reader.destroy();
        expect(rssMiB(pid)).toBeGreaterThan(0); // the gateway is still up
        driving = false;
        await drive;
      } finally {
        driving = false;
        for (const s of sockets) s.destroy();
        if (child) await killChild(child);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
