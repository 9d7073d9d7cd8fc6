import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type Dockerode from 'dockerode';
import { DockerEventFollower, backoffDelay, type DockerEvent } from '../../gateway/runtimes/docker-events.js';

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap, with ±20 % jitter', () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, 250, 5000, mid))).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
    expect(backoffDelay(0, 1000, 10_000, () => 0)).toBe(800);
    expect(backoffDelay(0, 1000, 10_000, () => 1)).toBe(1200);
    expect(backoffDelay(1000, 1000, 10_000, () => 0.5)).toBe(10_000);
  });
});

/** A fake Docker whose event stream the test ends, and which refuses connections on demand. */
function fakeDocker() {
  const streams: PassThrough[] = [];
  const calls: Array<Record<string, unknown>> = [];
  let down = false;
  const docker = {
    async getEvents(opts: Record<string, unknown>) {
      calls.push(opts);
      if (down) throw Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT' });
      const s = new PassThrough();
      streams.push(s);
      return s;
    },
  } as unknown as Dockerode;
  return {
    docker,
    streams,
    calls,
    setDown(v: boolean) {
      down = v;
    },
  };
}

const until = async (what: string, fn: () => boolean, ms = 3000) => {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('DockerEventFollower', () => {
  it('filters on the managed label, parses events split across chunks, and reconnects with backoff after the daemon goes away', async () => {
    const fake = fakeDocker();
    const events: DockerEvent[] = [];
    const connected: boolean[] = [];
    let disconnects = 0;
    const f = new DockerEventFollower(fake.docker, {
      labels: ['vllm-gateway.prefix=p'],
      onEvent: (e) => events.push(e),
      onConnected: (r) => connected.push(r),
      onDisconnected: () => disconnects++,
      initialDelayMs: 10,
      maxDelayMs: 40,
      random: () => 0.5,
    });
    f.start();
    await until('connected', () => f.connected);
    expect(fake.calls[0].filters).toEqual({ type: ['container'], label: ['vllm-gateway.managed=true', 'vllm-gateway.prefix=p'] });
    expect(fake.calls[0].since).toBeUndefined();
    const ev = JSON.stringify({
      Type: 'container',
      Action: 'die',
      Actor: { ID: 'abc', Attributes: { exitCode: '137' } },
      time: 1700000000,
    });
    fake.streams[0].write(ev.slice(0, 20));
    fake.streams[0].write(ev.slice(20) + '\n');
    await until('event', () => events.length === 1);
    expect(events[0]).toMatchObject({ Action: 'die', Actor: { ID: 'abc' } });

    // Daemon stops: the stream ends, connections fail for a while, then it comes back.
    fake.setDown(true);
    fake.streams[0].end();
    await until('a few failed attempts', () => fake.calls.length >= 4);
    expect(f.connected).toBe(false);
    fake.setDown(false);
    await until('reconnected', () => f.connected);
    expect(connected).toEqual([false, true]);
    expect(f.reconnects).toBe(1);
    expect(disconnects).toBeGreaterThanOrEqual(3);
    // Resumes from the last event seen.
    expect(fake.calls.at(-1)!.since).toBe(1700000000);
    f.close();
    expect(f.connected).toBe(false);
    const n = fake.calls.length;
    await new Promise((r) => setTimeout(r, 80));
    expect(fake.calls.length).toBe(n); // no reconnect after close
  });
});
