// Decides whether the Docker-engine tests run here:
//  - a daemon answers            → run;
//  - none, and REQUIRE_DOCKER=1  → fail loudly (CI must not silently skip them);
//  - none otherwise              → skip, saying why.
// Use: `const avail = await dockerAvailability(); describe.skipIf(!avail.available)(suiteName('…', avail), …)`:
// a skipped suite then says why in its name, in every reporter's output.
import { existsSync, readFileSync } from 'node:fs';
import Dockerode from 'dockerode';

export interface DockerAvailability {
  available: boolean;
  /** Why not, when not available. */
  reason: string | null;
  required: boolean;
  docker: Dockerode;
}

export function dockerClient(): Dockerode {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return new Dockerode({ socketPath: host.slice(7) });
  if (host) {
    const url = new URL(host.includes('://') ? host : `tcp://${host}`);
    return new Dockerode({ host: url.hostname, port: url.port, protocol: 'http' });
  }
  return new Dockerode({ socketPath: '/var/run/docker.sock' });
}

export async function dockerAvailability(): Promise<DockerAvailability> {
  const required = process.env.REQUIRE_DOCKER === '1';
  const docker = dockerClient();
  let reason: string | null = null;
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref()),
    ]);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    reason =
      `no Docker daemon answers (${process.env.DOCKER_HOST ?? '/var/run/docker.sock'}: ${e.code ?? e.message ?? String(err)}); ` +
      'start one with test/docker/start-dockerd.sh, or set REQUIRE_DOCKER=1 to make this a failure';
  }
  const available = reason === null;
  if (!available && required) {
    throw new Error(`REQUIRE_DOCKER=1 but the Docker engine tests cannot run: ${reason}`);
  }
  return { available, reason, required, docker };
}

/** The suite's name, with the reason it is skipped when no Docker engine answers. */
export function suiteName(name: string, avail: DockerAvailability): string {
  return avail.available ? name : `${name} (skipped: ${avail.reason})`;
}

/** Where test/docker/start-dockerd.sh notes the pid of a dockerd it started (the tests' own engine). */
export const TEST_DOCKERD_MARKER = process.env.VLLM_GW_TEST_DOCKERD_MARKER ?? '/tmp/vllm-gateway-tests-dockerd.pid';

/**
 * Whether the daemon-restart tests may stop the local dockerd: only one the tests started
 * (start-dockerd.sh noted its pid), never the system's own Docker service. Returns the reason to
 * skip, or null with the pid to stop.
 */
export function restartableDockerd(): { pid: number; skip: null } | { pid: null; skip: string } {
  const pidFile = '/var/run/docker.pid';
  if (process.getuid?.() !== 0 || process.env.DOCKER_HOST || !existsSync(pidFile))
    return { pid: null, skip: `needs root, the local daemon and ${pidFile} (DOCKER_HOST=${process.env.DOCKER_HOST ?? ''})` };
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const ours = existsSync(TEST_DOCKERD_MARKER) ? Number(readFileSync(TEST_DOCKERD_MARKER, 'utf8').trim()) : null;
  if (ours !== pid)
    return {
      pid: null,
      skip: `the dockerd running here (pid ${pid}) was not started by test/docker/start-dockerd.sh (${TEST_DOCKERD_MARKER}); the tests never stop a daemon they did not start`,
    };
  return { pid, skip: null };
}
