// test-host.sh itself: a host comes up with its own sshd and engine, its container ports are on
// its own loopback (not this machine's), its sshd can be stopped and started, and `down` leaves
// no namespace or process behind. The remote-host tests build on these properties.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  downTestHost,
  hostsSuiteName,
  sshSessionCount,
  startSshd,
  stopSshd,
  testHostsAvailability,
  TEST_HOSTS_RUN,
  upTestHost,
  type TestHost,
} from './test-hosts.js';

const avail = testHostsAvailability();

function ssh(host: TestHost, cmd: string): string {
  return execFileSync(
    'ssh',
    [
      '-i',
      host.keyPath,
      '-o',
      `UserKnownHostsFile=${host.knownHostsPath}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      `${host.user}@${host.addr}`,
      cmd,
    ],
    { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

describe.skipIf(!avail.available)(hostsSuiteName('test-host.sh', avail), () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await upTestHost('s', { gpus: 'NVIDIA H100:81559:1024,NVIDIA H100:81559' });
  });
  afterAll(async () => {
    if (host) await downTestHost(host.name);
  });

  it('has its own hostname, engine and stub nvidia-smi, reached over ssh', () => {
    expect(ssh(host, 'hostname').trim()).toBe(host.name);
    const engineHere = execFileSync('docker', ['info', '--format', '{{.ID}}'], { encoding: 'utf8' }).trim();
    const engineThere = execFileSync('docker', ['-H', `unix://${host.dockerSock}`, 'info', '--format', '{{.ID}}'], {
      encoding: 'utf8',
    }).trim();
    expect(engineThere).not.toBe(engineHere);
    // /var/run/docker.sock on the host is the host's engine, as on a real machine.
    expect(ssh(host, 'docker info --format "{{.ID}}"').trim()).toBe(engineThere);
    expect(ssh(host, 'nvidia-smi --query-gpu=index,memory.total,memory.used --format=csv,noheader,nounits').trim().split('\n')).toEqual([
      '0, 81559, 1024',
      '1, 81559, 0',
    ]);
  });

  it('stops and starts its sshd', async () => {
    // The one-off ssh sessions of the test before end on their own (their sshd child exits).
    for (let i = 0; i < 50 && sshSessionCount(host) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(sshSessionCount(host)).toBe(0);
    await stopSshd(host);
    expect(() => ssh(host, 'true')).toThrow();
    await startSshd(host);
    expect(ssh(host, 'echo back').trim()).toBe('back');
  });

  it('down removes the namespace, its processes and its files', async () => {
    const d = `${TEST_HOSTS_RUN}/${host.name}`;
    const pids = ['sshd.pid', 'dockerd.pid', 'holder.pid'].map((f) => Number(readFileSync(`${d}/${f}`, 'utf8').trim()));
    await downTestHost(host.name);
    expect(existsSync(d)).toBe(false);
    expect(readdirSync('/run/netns').includes(host.name)).toBe(false);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`), `pid ${pid}`).toBe(false);
  });
});
