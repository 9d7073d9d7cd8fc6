// Global setup and teardown of the test run: fails the run when a process a test started, a
// container named with this run's test prefix, or a fake nvidia-smi state file of this run, is
// still there once every test file has finished; and a test host (test/hosts/) of this run still
// up, which it takes down first (its sshd, dockerd and holder carry the run id too).
//
// Only this run is checked (other test runs may share the machine and its Docker engine): the
// setup gives the run an id that every child process inherits and every test container name
// carries (run-marker.ts). What is left is reported (pid, command, and the test that started it;
// container name and state), then killed or removed so the machine stays clean, and the run fails.

import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dockerClient } from '../docker/docker-available.js';
import { downTestHost, testHostsOfRun } from '../hosts/test-hosts.js';
import { FILE_ENV, RUN_ENV, TEST_ENV, testContainerPrefix } from './run-marker.js';

/**
 * The Docker engine is shared by every test run on the machine: the daemon-restart tests start it
 * again (without the marker, see envWithoutMarkers), and it must never be killed here whatever
 * its environment says.
 */
const SHARED = new Set(['dockerd', 'containerd', 'containerd-shim', 'containerd-shim-runc-v2', 'docker-proxy']);

/** How long a leftover may take to finish exiting (a test that signalled it without waiting). */
const GRACE_MS = 3000;

interface Leftover {
  pid: number;
  command: string;
  file: string;
  test: string;
}

/** Live processes (not zombies) whose environment carries `VLLM_GW_TEST_RUN=<id>`. */
export function processesOfRun(id: string, exclude: ReadonlySet<number>): Leftover[] {
  const want = `${RUN_ENV}=${id}`;
  const found: Leftover[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (exclude.has(pid)) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
      if (!env.includes(want)) continue;
      // Field 3 of stat (after the parenthesised command) is the state; Z = exited, not reaped yet.
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      if (SHARED.has(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')))) continue;
      const value = (k: string) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1) ?? '?';
      const command = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ');
      found.push({
        pid,
        command: command.length > 300 ? `${command.slice(0, 300)}…` : command,
        file: value(FILE_ENV),
        test: value(TEST_ENV),
      });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** The vitest processes themselves: this one and its workers (direct children), which carry the id too. */
function vitestPids(): Set<number> {
  const own = new Set([process.pid]);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) own.add(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return own;
}

async function leftoverContainers(prefix: string): Promise<Array<{ id: string; name: string; state: string }> | string> {
  const docker = dockerClient();
  try {
    const all = await docker.listContainers({ all: true });
    return all
      .map((c) => ({ id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), state: c.State }))
      .filter((c) => c.name.startsWith(`${prefix}-`));
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * State files of test/fixtures/fake-nvidia-smi.mjs left by this run: the GPU test helpers name
 * them with the run id (fakeStateKey in test/integration/gpu-helpers.ts). One is left when a fake
 * call outlives the gateway (or probe) that ran it, or when a test never removes its file.
 */
function fakeStateFilesOfRun(id: string): string[] {
  return readdirSync(tmpdir())
    .filter((name) => name.startsWith('fake-nvidia-smi-') && name.includes(`-${id}-`))
    .map((name) => path.join(tmpdir(), name));
}

/** Set once per vitest process: every project (the root and each of vitest.config.ts's) calls setup. */
const STARTED = Symbol.for('vllm-gateway.test-run-id');

export default function setup(): () => Promise<void> {
  const g = globalThis as { [STARTED]?: string };
  if (g[STARTED]) return async () => undefined;
  const id = randomBytes(4).toString('hex');
  g[STARTED] = id;
  process.env[RUN_ENV] = id;
  return async function teardown(): Promise<void> {
    const problems: string[] = [];

    for (const name of testHostsOfRun(id)) {
      problems.push(`test host ${name} still up (network namespace, sshd, dockerd)`);
      await downTestHost(name).catch((err: Error) => problems.push(`taking test host ${name} down: ${err.message}`));
    }

    let procs = processesOfRun(id, vitestPids());
    for (const deadline = Date.now() + GRACE_MS; procs.length > 0 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 100));
      procs = processesOfRun(id, vitestPids());
    }
    for (const p of procs) {
      problems.push(`process ${p.pid} still running, started by ${p.file} (test "${p.test}"): ${p.command}`);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }

    const prefix = testContainerPrefix();
    const containers = await leftoverContainers(prefix);
    if (typeof containers === 'string') {
      // No engine answering: then no test of this run could have left a container.
    } else {
      const docker = dockerClient();
      for (const c of containers) {
        problems.push(`container ${c.name} (${c.state}) still there`);
        await docker
          .getContainer(c.id)
          .remove({ force: true })
          .catch(() => undefined);
      }
    }

    for (const file of fakeStateFilesOfRun(id)) {
      problems.push(`fake nvidia-smi state file ${file} still there`);
      rmSync(file, { force: true });
    }

    if (problems.length > 0) {
      // vitest only logs an error thrown here ("error during close"); the exit code makes it a failure.
      process.exitCode = 1;
      throw new Error(
        `The tests left ${problems.length} thing(s) behind (now killed/removed; fix the test that started each):\n` +
          problems.map((p) => `  - ${p}`).join('\n'),
      );
    }
  };
}
