// The real gateway driving two remote test hosts (test/hosts/test-host.sh: each its own sshd and
// Docker engine, its container ports on its own loopback) and this machine's engine, through the
// official `openai` client: models placed on each host, one ssh connection per host under load,
// a host that drops (its models stopped with host_unreachable, in-flight requests 502) and
// returns (its containers adopted), a host whose key is wrong refused while the others serve.
// In the docker project: the `local` models use this machine's shared engine.

import Dockerode from 'dockerode';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../gateway/status-types.js';
import { http, waitUntil } from '../integration/helpers.js';
import { dockerAvailability, suiteName } from './docker-available.js';
import { MOCK_IMAGE, removePrefix, uniquePrefix } from './helpers.js';
import {
  ADMIN_TOKEN,
  HF_CACHE_DIR,
  closeAllGateways,
  configEnv,
  median,
  startDockerGateway,
  type DockerGateway,
} from './gateway-helpers.js';
import { buildMockImage } from './build-mock-image.mjs';
import { registerUi } from '../../gateway/http/ui-route.js';
import { buildDashboardToTemp, chromiumSkipReason, launchBrowser, screenshot } from '../e2e/helpers.js';
import {
  downTestHost,
  hostsSuiteName,
  loadImage,
  sshSessionCount,
  startSshd,
  stopSshd,
  testHostsAvailability,
  upTestHost,
  type TestHost,
} from '../hosts/test-hosts.js';

const dockerAvail = await dockerAvailability();
const hostsAvail = testHostsAvailability();
const name = dockerAvail.available
  ? hostsSuiteName('gateway with remote hosts', hostsAvail)
  : suiteName('gateway with remote hosts', dockerAvail);

describe.skipIf(!dockerAvail.available || !hostsAvail.available)(name, () => {
  const prefix = uniquePrefix('hosts');
  let a: TestHost;
  let b: TestHost;
  let t: DockerGateway;
  let client: OpenAI;
  let tmp: string;
  const noChromium = chromiumSkipReason();
  let ui: { dir: string; cleanup(): void } | undefined;
  const engineOf = (h: TestHost) => new Dockerode({ socketPath: h.dockerSock });
  const status = async () =>
    (await http(t.url, '/gateway/status', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json as StatusDocument;
  const model = async (id: string) => (await status()).models.find((m) => m.id === id)!;
  const chat = (id: string, headers: Record<string, string> = {}) =>
    client.chat.completions.create({ model: id, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }, { headers });
  const containersOn = async (engine: Dockerode) =>
    (await engine.listContainers({ all: true, filters: { label: [`vllm-gateway.prefix=${prefix}`] } })).map((c) => ({
      model: c.Labels['vllm-gateway.model'],
      host: c.Labels['vllm-gateway.host'] ?? null,
      id: c.Id,
      state: c.State,
    }));

  beforeAll(async () => {
    [a, b] = await Promise.all([
      upTestHost('ga', { gpus: 'NVIDIA H100 80GB HBM3:81559' }),
      upTestHost('gb', { gpus: 'NVIDIA L40S:46068,NVIDIA L40S:46068' }),
    ]);
    await buildMockImage({ tag: MOCK_IMAGE });
    await Promise.all([loadImage(a, MOCK_IMAGE), loadImage(b, MOCK_IMAGE)]);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'vgw-gw-hosts-'));
    // A third host entry pointing at host a, whose known_hosts holds another key.
    const wrongKnown = path.join(tmp, 'known_hosts_wrong');
    writeFileSync(wrongKnown, `${a.addr} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE+B3Z3kAzxcDhZM4oOk8Ek7sWWSM3mMwN0qN10hwreN\n`);
    const m = (id: string, extra: string) =>
      `  ${id}: { runtime: docker, image: ${MOCK_IMAGE}, model: facebook/opt-125m, ttlSeconds: 0, ${extra} }`;
    const yaml = `
listen: { host: 127.0.0.1, port: 0 }
auth: { adminToken: ${ADMIN_TOKEN} }
limits: { queueTimeoutSeconds: 30 }
retry: { maxAttempts: 2, initialDelaySeconds: 0.05, backoff: 2 }
timeouts: { connectSeconds: 2, firstByteSeconds: 15, idleSeconds: 15, startSeconds: 30 }
shutdown: { drainSeconds: 1 }
gpu: { probe: static, reserveGiB: 0.5, static: [{ name: "Local GPU", totalGiB: 24 }] }
docker: { containerPrefix: ${prefix}, pull: never, gpuRequests: false, hfCacheDir: ${JSON.stringify(HF_CACHE_DIR)} }
hosts:
  gpu-a: { docker: "ssh://root@${a.addr}", sshKeyPath: ${a.keyPath}, knownHostsPath: ${a.knownHostsPath} }
  gpu-b: { docker: "ssh://root@${b.addr}", sshKeyPath: ${b.keyPath}, knownHostsPath: ${b.knownHostsPath} }
  spoofed: { docker: "ssh://root@${a.addr}", sshKeyPath: ${a.keyPath}, knownHostsPath: ${wrongKnown} }
models:
${m('here', 'vramGiB: 4, hosts: [local]')}
${m('on-a', 'vramGiB: 8, hosts: [gpu-a]')}
${m('on-b', 'vramGiB: 8, hosts: [gpu-b]')}
${m('roam', 'vramGiB: 8, hosts: [gpu-b, gpu-a]')}
${m('only-b', 'vramGiB: 8, hosts: [gpu-b]')}
${m('big', 'vramGiB: 40')}
${m('never', 'vramGiB: 4, hosts: [spoofed]')}
`;
    ui = noChromium ? undefined : await buildDashboardToTemp();
    const distDir = ui?.dir;
    t = await startDockerGateway(yaml, configEnv(false), distDir ? { registerUi: (app) => registerUi(app, { distDir }) } : {});
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
  }, 180_000);

  afterAll(async () => {
    await closeAllGateways();
    await removePrefix(new Dockerode({ socketPath: '/var/run/docker.sock' }), prefix);
    for (const h of [a, b]) if (h) await downTestHost(h.name);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    ui?.cleanup();
  }, 120_000);

  it('shows every host with its state and GPUs; the spoofed one refused for its key', async () => {
    const s = await status();
    expect(s.hosts?.map((h) => [h.name, h.state])).toEqual([
      ['local', 'connected'],
      ['gpu-a', 'connected'],
      ['gpu-b', 'connected'],
      ['spoofed', 'unreachable'],
    ]);
    expect(s.hosts?.find((h) => h.name === 'spoofed')?.error).toMatch(/host key of 10\.251\.\d+\.2 has CHANGED/);
    expect(s.hosts?.find((h) => h.name === 'gpu-b')?.gpus, JSON.stringify([s.gpuProbe, s.gpus])).toEqual([0, 1]);
    expect(s.gpus.map((g) => [g.host, g.index, g.name, g.totalMiB])).toEqual([
      ['local', 0, 'Local GPU', 24 * 1024],
      ['gpu-a', 0, 'NVIDIA H100 80GB HBM3', 81559],
      ['gpu-b', 0, 'NVIDIA L40S', 46068],
      ['gpu-b', 1, 'NVIDIA L40S', 46068],
    ]);
  });

  it('starts each model on its host through the openai client; the remote ones only reachable through the tunnel', async () => {
    const replies = await Promise.all(['here', 'on-a', 'on-b', 'big', 'roam'].map((id) => chat(id)));
    for (const r of replies) expect(r.choices[0].message.content).toBeTruthy();
    const byId = Object.fromEntries((await status()).models.map((m) => [m.id, m]));
    expect(byId.here).toMatchObject({ state: 'ready', host: 'local', gpus: [0] });
    expect(byId['on-a']).toMatchObject({ state: 'ready', host: 'gpu-a', gpus: [0] });
    expect(byId['on-b']).toMatchObject({ state: 'ready', host: 'gpu-b' });
    expect(byId.roam).toMatchObject({ state: 'ready', host: 'gpu-b' });
    // 40 GiB fits neither local's 24 GiB nor an L40S beside on-b more than on the H100: any host, local first.
    expect(byId.big).toMatchObject({ state: 'ready', host: 'gpu-a', gpus: [0] });
    expect((await containersOn(engineOf(a))).map((c) => c.model).sort()).toEqual(['big', 'on-a']);
    expect((await containersOn(engineOf(b))).map((c) => [c.model, c.host]).sort()).toEqual([
      ['on-b', 'gpu-b'],
      ['roam', 'gpu-b'],
    ]);
    const local = await containersOn(new Dockerode({ socketPath: '/var/run/docker.sock' }));
    expect(local.map((c) => [c.model, c.host])).toEqual([['here', null]]);
    // The endpoint the gateway proxies to is a local forward, not the host's port.
    expect(byId['on-a'].endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  }, 120_000);

  it('keeps one ssh connection per host under load, and measures the tunnel against local', async () => {
    const timed = async (id: string) => {
      const t0 = performance.now();
      await chat(id);
      return performance.now() - t0;
    };
    const lat: Record<string, number[]> = { here: [], 'on-a': [] };
    for (let i = 0; i < 10; i++) for (const id of Object.keys(lat)) lat[id].push(await timed(id));
    await Promise.all(Array.from({ length: 60 }, (_, i) => chat(i % 2 ? 'on-a' : 'on-b')));
    expect(sshSessionCount(a)).toBe(1);
    expect(sshSessionCount(b)).toBe(1);
    console.log(
      `[hosts] chat latency median ms: local ${median(lat.here).toFixed(1)}, through the tunnel ${median(lat['on-a']).toFixed(1)}`,
    );
  }, 120_000);

  it('a host that drops: its models stopped with host_unreachable, in flight 502, the others serve; adopted when it returns', async () => {
    const before = (await containersOn(engineOf(b))).find((c) => c.model === 'on-b')!;
    const slow = chat('on-b', { 'x-mock-delay-ms': '20000' }).then(
      () => 'answered',
      (err: { status?: number }) => err.status,
    );
    await waitUntil(async () => (await model('on-b')).inFlight === 1, 10_000, 'the slow request in flight');
    await stopSshd(b);
    await waitUntil(async () => (await model('on-b')).state === 'stopped', 20_000, 'on-b stopped');
    expect((await model('on-b')).error).toMatch(/host_unreachable/);
    expect(await slow).toBe(502);
    const s = await status();
    expect(s.hosts?.find((h) => h.name === 'gpu-b')).toMatchObject({ state: 'unreachable', gpus: [] });
    expect(s.gpus.some((g) => g.host === 'gpu-b')).toBe(false);
    expect((await chat('on-a')).choices[0].message.content).toBeTruthy();
    // A model that may also run on gpu-a is started there; one that may not waits for its host.
    expect((await chat('roam')).choices[0].message.content).toBeTruthy();
    expect(await model('roam')).toMatchObject({ state: 'ready', host: 'gpu-a' });
    const waiting = chat('only-b');
    await waitUntil(async () => (await model('only-b')).queued === 1, 10_000, 'a request for only-b waiting');

    await startSshd(b);
    await waitUntil(async () => (await model('on-b')).state === 'ready', 30_000, 'on-b adopted');
    expect(await model('on-b')).toMatchObject({ state: 'ready', host: 'gpu-b' });
    expect((await waiting).choices[0].message.content).toBeTruthy();
    expect(await model('only-b')).toMatchObject({ state: 'ready', host: 'gpu-b' });
    expect((await chat('on-b')).choices[0].message.content).toBeTruthy();
    // The same container, adopted: not a new start; roam's old one there is gone (it runs on gpu-a now).
    await waitUntil(
      async () => !(await containersOn(engineOf(b))).some((c) => c.model === 'roam'),
      15_000,
      "roam's container on gpu-b removed",
    );
    expect((await containersOn(engineOf(b))).find((c) => c.model === 'on-b')?.id).toBe(before.id);
    expect(sshSessionCount(b)).toBe(1);
  }, 120_000);

  it.skipIf(noChromium !== null)(
    `the dashboard groups the GPUs by host with each host's state${noChromium ? ` (skipped: ${noChromium})` : ''}`,
    async () => {
      const browser = await launchBrowser({ colorScheme: 'light', viewport: { width: 1280, height: 900 } });
      try {
        const page = browser.page;
        page.setDefaultTimeout(15_000);
        await page.goto(`${t.url}/ui#token=${ADMIN_TOKEN}`);
        const b = page.getByRole('region', { name: 'gpu-b', exact: true });
        await b.getByText('connected', { exact: true }).waitFor();
        expect(await b.getByRole('meter').count()).toBe(2);
        const spoofed = page.getByRole('region', { name: 'spoofed', exact: true });
        await spoofed.getByText('unreachable', { exact: true }).waitFor();
        await spoofed.getByText(/has CHANGED/).waitFor();
        const local = page.getByRole('region', { name: 'local', exact: true });
        expect(await local.getByRole('meter').count()).toBe(1);
        // Measured by the host's nvidia-smi (over ssh), unlike this machine's static GPU.
        expect(await local.getByText('simulated', { exact: true }).count()).toBe(1);
        expect(await b.getByText('simulated', { exact: true }).count()).toBe(0);
        await page.getByRole('img', { name: /^VRAM used over the last minutes: .*gpu-b GPU 1 / }).waitFor();
        console.log('screenshot:', await screenshot(page, 'dashboard-hosts', { docs: 'dashboard-hosts.png' }));
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});
