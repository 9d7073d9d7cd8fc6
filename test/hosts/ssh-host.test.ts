// The transport to a remote host (gateway/hosts/ssh-host.ts) against real test hosts
// (test/hosts/test-host.sh): the host's engine through one ssh connection, a model container
// whose port only the tunnel reaches, nvidia-smi over the same connection, host keys checked,
// a host whose sshd stops goes unreachable and comes back by itself.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshHost } from '../../gateway/hosts/ssh-host.js';
import { DockerRuntime } from '../../gateway/runtimes/docker-runtime.js';
import { buildMockImage } from '../docker/build-mock-image.mjs';
import { dockerConfig, MOCK_IMAGE, mockModel, startRequest, uniquePrefix, waitFor } from '../docker/helpers.js';
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
} from './test-hosts.js';

const avail = testHostsAvailability();

const fast = { backoff: { initialMs: 100, maxMs: 400 }, keepaliveIntervalMs: 500, keepaliveCountMax: 2, readyTimeoutMs: 5000 };

function openHost(h: TestHost, over: { knownHostsPath?: string } = {}): Promise<SshHost> {
  return SshHost.open(
    { name: h.name, user: h.user, host: h.addr, port: 22, sshKeyPath: h.keyPath, knownHostsPath: over.knownHostsPath ?? h.knownHostsPath },
    fast,
  );
}

/** Whether a TCP connect to addr:port succeeds (refused or timed out: false). */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

describe.skipIf(!avail.available)(hostsSuiteName('a remote host over one ssh connection', avail), () => {
  let a: TestHost;
  let host: SshHost;
  let tmp: string;

  beforeAll(async () => {
    a = await upTestHost('a', { gpus: 'NVIDIA H100 80GB HBM3:81559:2048:13,NVIDIA H100 80GB HBM3:81559' });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'vgw-ssh-host-'));
    host = await openHost(a);
    await host.connection.settled();
  }, 120_000);

  afterAll(async () => {
    await host?.close();
    if (a) await downTestHost(a.name);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("reaches the host's own engine, and 40 concurrent API calls share the one login", async () => {
    expect(host.state).toBe('connected');
    const here = await new Dockerode({ socketPath: '/var/run/docker.sock' }).info();
    const direct = await new Dockerode({ socketPath: a.dockerSock }).info();
    const there = await host.docker.info();
    expect(there.ID).toBe(direct.ID);
    expect(there.ID).not.toBe(here.ID);
    expect(there.Name).toBe(a.name);

    const results = await Promise.all(Array.from({ length: 40 }, () => host.docker.listContainers({ all: true })));
    expect(results.every(Array.isArray)).toBe(true);
    expect(host.connection.logins).toBe(1);
    expect(sshSessionCount(a)).toBe(1);
  });

  it('runs nvidia-smi over the same connection, parsed like a local one', async () => {
    const probe = host.gpuProbe({ pollSeconds: 60 });
    const calls = () => (existsSync(a.nvidiaSmiCalls) ? readFileSync(a.nvidiaSmiCalls, 'utf8').trim().split('\n').length : 0);
    const before = calls();
    const snap = await probe.refresh();
    await probe.stop();
    expect(snap.measured).toBe(true);
    expect(snap.gpus.map((g) => [g.index, g.name, g.totalMiB, g.usedMiB, g.utilizationPercent])).toEqual([
      [0, 'NVIDIA H100 80GB HBM3', 81559, 2048, 13],
      [1, 'NVIDIA H100 80GB HBM3', 81559, 0, 0],
    ]);
    expect(snap.gpus[0].uuid).toBe(`GPU-${a.name}-0`);
    // The host's own stub answered (its call log grew), over the connection we already had.
    expect(calls()).toBe(before + 2);
    expect(sshSessionCount(a)).toBe(1);
  });

  it('says where nvidia-smi is missing on the host', async () => {
    const probe = host.gpuProbe({ pollSeconds: 60, command: 'nvidia-smi-not-here' });
    await expect(probe.refresh()).rejects.toThrow(/nvidia-smi not found at nvidia-smi-not-here on host t\w+-a/);
    await probe.stop();
  });

  it('starts a model container whose port only the tunnel reaches, and closes that forward when it is gone', async () => {
    await buildMockImage({ tag: MOCK_IMAGE });
    await loadImage(a, MOCK_IMAGE);
    const prefix = uniquePrefix('ssh');
    const rt = new DockerRuntime(dockerConfig(prefix, { hfCacheDir: path.join(tmp, 'hf') }), {
      docker: host.docker,
      where: host.where,
      endpointFor: (p) => host.endpointFor(p),
      releasePort: (p) => void host.ports.release(p),
    });
    try {
      const inst = await rt.start(startRequest(mockModel('tunnelled')));
      const info = await host.docker.listContainers({ filters: { label: [`vllm-gateway.prefix=${prefix}`] } });
      expect(info).toHaveLength(1);
      const remotePort = info[0].Ports.find((p) => p.PrivatePort === 8000)!.PublicPort;
      // Published on the host's loopback: not on its address, not on this machine's 127.0.0.1.
      expect(await connects(a.addr, remotePort)).toBe(false);
      expect(inst.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(inst.endpoint).not.toBe(`http://127.0.0.1:${remotePort}`);
      const res = await waitFor(
        'the model through the tunnel',
        async () => {
          const r = await fetch(`${inst.endpoint}/v1/models`).catch(() => null);
          return r?.ok ? r : null;
        },
        20_000,
      );
      const body = (await res.json()) as { data: Array<{ id: string }> };
      expect(body.data.map((m) => m.id)).toEqual(['tunnelled']);
      expect(host.ports.size).toBe(1);
      expect(sshSessionCount(a)).toBe(1);
      await inst.stop(2000);
      await waitFor('the forward to close', () => host.ports.size === 0 || null, 5000);
      expect(await connects('127.0.0.1', Number(new URL(inst.endpoint).port))).toBe(false);
    } finally {
      await rt.close();
      const left = await host.docker.listContainers({ all: true, filters: { label: [`vllm-gateway.prefix=${prefix}`] } });
      for (const c of left) await host.docker.getContainer(c.Id).remove({ force: true });
    }
  }, 90_000);

  it('refuses a host whose key is unknown or has changed, and says how to fix it', async () => {
    const changed = path.join(tmp, 'known_hosts_changed');
    // The host's address with another key: what a reinstalled host, or a man in the middle, looks like.
    writeFileSync(changed, `${a.addr} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE+B3Z3kAzxcDhZM4oOk8Ek7sWWSM3mMwN0qN10hwreN\n`);
    const unknown = path.join(tmp, 'known_hosts_other');
    writeFileSync(unknown, `10.9.9.9 ${readFileSync(a.hostKeyPath, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    for (const [file, pattern] of [
      [changed, /host key of 10\.251\.\d+\.2 has CHANGED: it presented SHA256:/],
      [unknown, /host key of 10\.251\.\d+\.2 \(SHA256:[^)]+\) is not in /],
    ] as const) {
      const h = await openHost(a, { knownHostsPath: file });
      try {
        await h.connection.settled();
        expect(h.state).toBe('unreachable');
        expect(h.error).toMatch(pattern);
        expect(h.connection.logins).toBe(0);
        await expect(h.docker.ping()).rejects.toThrow();
      } finally {
        await h.close();
      }
    }
  });

  it('goes unreachable when the sshd stops, fails calls fast, and reconnects when it is back', async () => {
    const states: string[] = [];
    const off = host.onState((s) => states.push(s));
    try {
      await stopSshd(a);
      await waitFor('the host to drop', () => host.state !== 'connected' || null, 10_000);
      const t0 = Date.now();
      await expect(host.docker.ping()).rejects.toThrow();
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(host.error).toBeTruthy();
      await startSshd(a);
      await waitFor('the host to reconnect', () => host.state === 'connected' || null, 15_000);
      expect((await host.docker.info()).Name).toBe(a.name);
      expect(states[0]).toBe('unreachable');
      expect(states.at(-1)).toBe('connected');
      expect(host.connection.logins).toBe(2);
      expect(sshSessionCount(a)).toBe(1);
    } finally {
      off();
    }
  }, 60_000);
});
