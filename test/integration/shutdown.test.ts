// Graceful shutdown (P13): stop accepting, drain in-flight requests up to drainSeconds, refuse
// queued and new ones with 503 shutting_down, stop the model servers, and (CLI) exit 0.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServe } from './cli-serve.js';
import {
  alive,
  baseYaml,
  chat,
  cleanupAll,
  CUT_CHUNKED_BODY,
  errorOf,
  http,
  mockOf,
  post,
  postAndRead,
  processModel,
  REPO_ROOT,
  sleep,
  startGateway,
  waitUntil,
} from './helpers.js';
import { ensureBuilt } from './ensure-built.js';

afterAll(cleanupAll);

describe('in-process close()', () => {
  it('drains the stream in flight, refuses queued requests with 503 shutting_down and new connections, stops models', async () => {
    // drainSeconds 10: a close() that waited out the drain instead of ending with the stream would take 10 s.
    const t = await startGateway(
      baseYaml(`models:\n${processModel('sd', { extra: 'maxConcurrent: 1' })}`).replace('drainSeconds: 2', 'drainSeconds: 10'),
    );
    expect((await post(t.url, '/v1/chat/completions', chat('sd'))).status).toBe(200);
    const pid = (await (await mockOf(t, 'sd')).stats()).pid;
    // Clients that keep connections open (undici honours the server's keep-alive hint of 65 s).
    const keepAlive = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 120_000 });
    // Open a kept-alive connection before the shutdown.
    expect(await request(`${t.url}/health`, { dispatcher: keepAlive }).then(async (r) => (await r.body.text(), r.statusCode))).toBe(200);
    let streamEndedAt = 0;
    const stream = request(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chat('sd', { stream: true })),
      headers: { 'content-type': 'application/json', 'x-mock-tokens': '10', 'x-mock-token-delay-ms': '80' },
      dispatcher: keepAlive,
    }).then(async (r) => {
      const text = await r.body.text();
      streamEndedAt = performance.now();
      return { status: r.statusCode, text };
    });
    await waitUntil(async () => (await t.model('sd')).inFlight === 1, 2000, 'streaming');
    const queued = post(t.url, '/v1/chat/completions', chat('sd'));
    await waitUntil(async () => (await t.model('sd')).queued === 1, 2000, 'queued');
    const closing = t.gw.close().then(() => performance.now());
    const q = await queued;
    expect(q.status).toBe(503);
    expect(errorOf(q).code).toBe('shutting_down');
    // A new connection is refused: the listener is closed.
    await expect(http(t.url, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const s = await stream;
    expect(s.status).toBe(200);
    expect(s.text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const closedAt = await closing;
    // Done once the stream ended, not at the end of the drain: the kept-alive connections (idle
    // between requests) do not hold it up, and stopping the model's server is all that is left.
    expect(closedAt).toBeGreaterThanOrEqual(streamEndedAt);
    expect(closedAt - streamEndedAt).toBeLessThan(3000);
    expect(alive(pid)).toBe(false);
    await keepAlive.close();
  });

  it('a request arriving on a kept-alive connection during the drain gets 503 shutting_down in the OpenAI shape', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('sd3')}`));
    expect((await post(t.url, '/v1/chat/completions', chat('sd3'))).status).toBe(200);
    const { port } = new URL(t.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const send = (body: string, extra = '') =>
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
      );
    let buf = '';
    socket.on('data', (c: Buffer) => (buf += c.toString('latin1')));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    send(JSON.stringify(chat('sd3', { stream: true })), 'x-mock-tokens: 6\r\nx-mock-token-delay-ms: 60\r\n');
    await waitUntil(() => /data: \{/.test(buf), 5000, 'the stream to begin');
    const closing = t.gw.close();
    // The next request on the same connection, sent while the stream is still being drained (so
    // the connection is never idle, and the gateway cannot close it before reading the request).
    send(JSON.stringify(chat('sd3')));
    await closed; // the gateway closes the connection after its answer ('Connection: close')
    const second = buf.slice(buf.indexOf('\r\n0\r\n\r\n') + 7);
    expect(buf).toMatch(/^HTTP\/1\.1 200 /); // the stream was drained to its end…
    expect(buf.slice(0, buf.indexOf('\r\n0\r\n\r\n'))).toContain('data: [DONE]');
    expect(second).toMatch(/^HTTP\/1\.1 503 /); // …then the request sent during the drain was refused
    expect(second.toLowerCase()).toContain('\r\nconnection: close\r\n');
    const body = JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4));
    expect(body.error).toMatchObject({ code: 'shutting_down', type: 'server_error', param: null });
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    socket.destroy();
    await closing;
  });

  it('cuts what is still running after drainSeconds, not before', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('sd2')}`).replace('drainSeconds: 2', 'drainSeconds: 0.3'));
    expect((await post(t.url, '/v1/chat/completions', chat('sd2'))).status).toBe(200);
    // 100 tokens of 100 ms: 10 s, far past the drain.
    const stream = postAndRead(t.url, '/v1/chat/completions', chat('sd2', { stream: true }), {
      'x-mock-tokens': '100',
      'x-mock-token-delay-ms': '100',
    });
    await waitUntil(async () => (await t.model('sd2')).inFlight === 1, 2000, 'streaming');
    const started = performance.now();
    await t.gw.close();
    const r = await stream;
    expect(r.status).toBe(200);
    expect(r.error).toMatchObject(CUT_CHUNKED_BODY);
    expect(r.text).not.toContain('[DONE]');
    // Cut at the end of the 0.3 s drain: not at once, and not after it had run much longer.
    expect(r.endedAt - started).toBeGreaterThanOrEqual(300);
    expect(r.endedAt - started).toBeLessThan(300 + 2000);
  });
});

describe('a cut drain (a second Quit or SIGTERM)', () => {
  it('close({cutDrain}) also cuts a client still sending its body, instead of waiting out the drain', async () => {
    // A drain and an idle timeout no test waits out: only the cut can end this client's request.
    const yaml = baseYaml(`models:\n${processModel('sd4')}`, {
      timeouts: '{ connectSeconds: 2, firstByteSeconds: 10, idleSeconds: 3600, startSeconds: 15 }',
    }).replace('drainSeconds: 2', 'drainSeconds: 3600');
    const t = await startGateway(yaml);
    const { port } = new URL(t.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.on('error', () => undefined);
    const ended = new Promise<void>((r) => socket.once('close', () => r()));
    let received = '';
    socket.on('data', (c: Buffer) => (received += c.toString()));
    // A GET, then pipelined behind it a POST's headers and 15 of the 1000 body bytes it announces
    // (the rest never comes): once the GET is answered, the server holds the POST in progress.
    const host = `host: 127.0.0.1:${port}\r\n`;
    socket.write(
      `GET /health HTTP/1.1\r\n${host}\r\n` +
        `POST /v1/chat/completions HTTP/1.1\r\n${host}content-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":"sd4",`,
    );
    await waitUntil(() => /^HTTP\/1\.1 200 /.test(received) && received.includes('\r\n\r\n'), 10_000, 'the GET answered');
    const closed = t.gw.close();
    void t.gw.close({ cutDrain: true });
    const outcome = await Promise.race([closed.then(() => 'closed'), sleep(20_000).then(() => 'still draining')]);
    expect(outcome).toBe('closed');
    await ended; // its connection was cut
    socket.destroy();
  });
});

describe('open event streams', () => {
  it('close() ends /gateway/events streams instead of waiting for the dashboard tab to go away', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('sd3')}`));
    const res = await request(`${t.url}/gateway/events`);
    expect(res.statusCode).toBe(200);
    const ended = (async () => {
      let text = '';
      for await (const chunk of res.body) text += String(chunk);
      return text;
    })();
    await waitUntil(async () => (await t.status()).models.length === 1, 2000, 'status');
    const closing = t.gw.close().then(() => 'closed');
    const outcome = await Promise.race([closing, sleep(5000).then(() => 'still open after 5 s')]);
    expect(outcome).toBe('closed');
    expect(await ended).toContain('event: status');
  });
});

// ---------------------------------------------------------------- the CLI as a real child process

describe('serve as a child process', () => {
  // The gateway runs from dist/: build it first when it is missing or older than the sources (tsc is slow on a loaded machine).
  beforeAll(ensureBuilt, 240_000);

  it('a second SIGTERM ends the drain now, and the models are still stopped', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gw-shutdown-'));
    try {
      const file = path.join(dir, 'gateway.yaml');
      writeFileSync(file, baseYaml(`models:\n${processModel('cli2')}`).replace('drainSeconds: 2', 'drainSeconds: 120'));
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'gateway/bin.mjs'), 'serve', '--config', file], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        await waitUntil(() => /^dashboard: /m.test(out), 15_000, `serve to print its lines; output so far:\n${out}`);
        const url = /^listening on (\S+)$/m.exec(out)![1]!;
        // A stream of ~120 s: only a cut drain ends it early.
        const res = await request(`${url}/v1/chat/completions`, {
          method: 'POST',
          body: JSON.stringify(chat('cli2', { stream: true })),
          headers: { 'content-type': 'application/json', 'x-mock-tokens': '1200', 'x-mock-token-delay-ms': '100' },
        });
        expect(res.statusCode).toBe(200);
        const body = res.body.text().catch((err: Error) => `(cut: ${err.message})`);
        const endpoint = (await http(url, '/gateway/status')).json.models[0].endpoint;
        const pid = (await http(endpoint, '/mock/stats')).json.pid;
        child.kill('SIGTERM');
        await waitUntil(() => /shutting down: draining requests/.test(out), 10_000, 'the drain to begin');
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        expect(alive(pid)).toBe(false);
        expect(await body).not.toMatch(/data: \[DONE\]\s*$/);
        expect(out).toMatch(/second signal: ending the drain now, then stopping the models/);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- serve output:\n${out.slice(-3000)}`, { cause: err });
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints its lines, drains a stream on SIGTERM, refuses new requests, stops models and exits 0', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gw-shutdown-'));
    try {
      const file = path.join(dir, 'gateway.yaml');
      writeFileSync(
        file,
        baseYaml(`models:\n${processModel('cli1')}`)
          .replace(/^auth: .*$/m, 'auth: { adminToken: auto }')
          .replace('drainSeconds: 2', 'drainSeconds: 10'),
      );
      const child = spawnServe(file);
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        await waitUntil(() => /^dashboard: /m.test(out), 15_000, `serve to print its lines; output so far:\n${out}`);
        const url = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out)?.[1];
        expect(url).toBeDefined();
        const dash = /^dashboard: (\S+)$/m.exec(out)![1];
        expect(dash).toMatch(new RegExp(`^${url}/ui#token=[A-Za-z0-9_-]{32,}$`));
        expect((await post(url!, '/v1/chat/completions', chat('cli1'))).status).toBe(200);
        const endpoint = (await http(url!, '/gateway/status')).json.models[0].endpoint;
        const pid = (await http(endpoint, '/mock/stats')).json.pid;
        // A stream of ~1.2 s in flight when SIGTERM arrives.
        const res = await request(`${url}/v1/chat/completions`, {
          method: 'POST',
          body: JSON.stringify(chat('cli1', { stream: true })),
          headers: { 'content-type': 'application/json', 'x-mock-tokens': '12', 'x-mock-token-delay-ms': '100' },
        });
        expect(res.statusCode).toBe(200);
        // Read the stream as it comes; SIGTERM once its first event is here (so it is in flight).
        let text = '';
        const firstEvent = new Promise<void>((resolve) => {
          res.body.on('data', (c: Buffer) => {
            text += c.toString();
            if (text.includes('data: {')) resolve();
          });
        });
        const streamEnded = new Promise<void>((resolve, reject) => res.body.once('end', resolve).once('error', reject));
        await firstEvent;
        child.kill('SIGTERM');
        await waitUntil(() => /shutting down/.test(out), 10_000, 'serve to log that it is shutting down');
        // A new request now: the listener is closed (refused), or, if it comes in before it is,
        // answered 503 shutting_down. Nothing else.
        const late = await http(url!, '/v1/chat/completions', { method: 'POST', body: JSON.stringify(chat('cli1')) }).then(
          (r) => `${r.status} ${errorOf(r).code}`,
          (err: Error & { code?: string }) => err.code,
        );
        expect(['ECONNREFUSED', '503 shutting_down']).toContain(late);
        await streamEnded;
        expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
        expect(await exited).toBe(0);
        expect(alive(pid)).toBe(false);
        expect(out).toMatch(/shutting down/);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- serve output:\n${out.slice(-3000)}`, { cause: err });
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(
    '`npm run gateway -- serve`: prints the Ollama port; SIGTERM to npm stops the gateway and its models, no process left',
    { timeout: 90_000 },
    async () => {
      // npm signals its script shell only (sh -c "node gateway/bin.mjs …"), which dies without passing it on.
      const dir = mkdtempSync(path.join(tmpdir(), 'gw-shutdown-'));
      try {
        const file = path.join(dir, 'gateway.yaml');
        writeFileSync(
          file,
          baseYaml(`models:\n${processModel('npm1')}`).replace(
            'listen: { host: 127.0.0.1, port: 0 }',
            'listen: { host: 127.0.0.1, port: 0, ollamaPort: 0 }',
          ),
        );
        const npm = spawn('npm', ['run', 'gateway', '--', 'serve', '--config', file, '--port', '0'], {
          cwd: REPO_ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, LOG_LEVEL: 'info' },
        });
        let out = '';
        npm.stdout!.on('data', (c: Buffer) => (out += c.toString()));
        npm.stderr!.on('data', (c: Buffer) => (out += c.toString()));
        const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
        let gatewayPid = 0;
        try {
          await waitUntil(() => /^dashboard: /m.test(out), 30_000, `serve to print its lines; output so far:\n${out}`);
          const url = /^listening on (\S+)$/m.exec(out)![1]!;
          const ollama = /^ollama: (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out)?.[1];
          expect(ollama).toBeDefined();
          expect(ollama).not.toBe(url);
          expect((await http(ollama!, '/api/version')).status).toBe(200);
          // `ollama pull` of a model the config lacks names the file to add it to.
          const pull = await post(ollama!, '/api/pull', { model: 'ghost:7b' });
          expect(pull.status).toBe(404);
          expect(pull.json.error).toBe(
            `model "ghost:7b" is not in the gateway's config, so there is nothing to pull: add it under models: in ${file} and restart the gateway`,
          );
          expect((await post(url, '/v1/chat/completions', chat('npm1'))).status).toBe(200);
          const endpoint = (await http(url, '/gateway/status')).json.models[0].endpoint;
          const modelPid = (await http(endpoint, '/mock/stats')).json.pid as number;
          gatewayPid = parentOf(modelPid);
          expect(gatewayPid).not.toBe(npm.pid); // a shell sits between npm and the gateway
          npm.kill('SIGTERM');
          await exited;
          await waitUntil(() => !alive(gatewayPid), 15_000, 'the gateway to exit');
          await expect(http(url, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
          await expect(http(ollama!, '/api/version')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
          expect(alive(modelPid)).toBe(false);
          expect(out).toMatch(/"signal":"SIGTERM","msg":"shutting down: draining requests"/);
          expect(out).toMatch(/"msg":"stopped"/);
        } catch (err) {
          throw new Error(`${(err as Error).message}\n--- npm output:\n${out.slice(-3000)}`, { cause: err });
        } finally {
          if (npm.exitCode === null) npm.kill('SIGKILL');
          if (gatewayPid && alive(gatewayPid)) process.kill(gatewayPid, 'SIGKILL');
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

/** A process's parent, from /proc (Linux). */
function parentOf(pid: number): number {
  // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so split after its ")".
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}
