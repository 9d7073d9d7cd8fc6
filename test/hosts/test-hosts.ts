// Test hosts for the remote-host tests: throwaway "remote GPU hosts" on this machine, each a
// network namespace with its own sshd and Docker engine (test/hosts/test-host.sh says what a host
// is). A test brings hosts up in beforeAll and down in afterAll; the global teardown
// (test/lifecycle/leak-check.global.ts) takes down any host of this run that a test left up.
//
// Use: `const avail = testHostsAvailability(); describe.skipIf(!avail.available)(hostsSuiteName('…', avail), …)`.
// They need root (network namespaces, a second dockerd), `ip netns`, /usr/sbin/sshd and dockerd;
// without them the suite is skipped with the reason, unless REQUIRE_TEST_HOSTS=1 (CI), where
// that is a failure.

import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runId } from '../lifecycle/run-marker.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

export const TEST_HOST_SCRIPT = path.join(here, 'test-host.sh');
/** Where test-host.sh keeps each host's files (its TEST_HOSTS_RUN default). */
export const TEST_HOSTS_RUN = process.env.TEST_HOSTS_RUN ?? '/run/vllm-gw-test-hosts';

export interface TestHostsAvailability {
  available: boolean;
  reason: string | null;
}

export interface TestHost {
  name: string;
  /** The host's address on this machine's side of its veth, e.g. 10.251.3.2. */
  addr: string;
  user: string;
  /** Private key that the host's sshd accepts. */
  keyPath: string;
  /** A known_hosts file with the host's key for `addr`. */
  knownHostsPath: string;
  /** The host's public host key line ("ssh-ed25519 AAAA… comment"). */
  hostKeyPath: string;
  /** The host engine's unix socket, reachable from this machine directly (for test setup only). */
  dockerSock: string;
  /** The file the host's stub nvidia-smi logs every call to. */
  nvidiaSmiCalls: string;
  /** `ssh://root@ADDR`, the value a gateway config gives the host. */
  dockerHost: string;
}

let cached: TestHostsAvailability | undefined;

/** Whether test hosts can be made here (cached per test file). */
export function testHostsAvailability(): TestHostsAvailability {
  if (cached) return cached;
  let reason: string | null = null;
  if (process.platform !== 'linux') reason = 'test hosts need Linux network namespaces';
  else if (process.getuid?.() !== 0) reason = 'test hosts need root (network namespaces and a second dockerd)';
  else if (!existsSync('/usr/sbin/sshd')) reason = 'no /usr/sbin/sshd (install openssh-server)';
  else {
    for (const [cmd, args] of [
      ['ip', ['netns', 'list']],
      ['dockerd', ['--version']],
      ['nsenter', ['--version']],
    ] as const) {
      try {
        execFileSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
      } catch (err) {
        reason = `\`${cmd} ${args.join(' ')}\` fails here (${(err as Error).message.split('\n')[0]})`;
        break;
      }
    }
  }
  if (reason && process.env.REQUIRE_TEST_HOSTS === '1') {
    throw new Error(`REQUIRE_TEST_HOSTS=1 but the remote-host tests cannot run: ${reason}`);
  }
  cached = { available: reason === null, reason };
  return cached;
}

export function hostsSuiteName(name: string, avail: TestHostsAvailability): string {
  return avail.available ? name : `${name} (skipped: ${avail.reason})`;
}

/** This run's host name for a tag: `t<run id>-<tag>`, so the teardown can tell this run's hosts. */
export function testHostName(tag: string): string {
  const name = `t${runId()}-${tag}`;
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(name)) throw new Error(`test host name ${name} is too long or not [a-z0-9-]`);
  return name;
}

/** Names of the test hosts of run `id` that are up (or half up). */
export function testHostsOfRun(id: string): string[] {
  if (!existsSync(TEST_HOSTS_RUN)) return [];
  return readdirSync(TEST_HOSTS_RUN).filter((n) => n.startsWith(`t${id}-`));
}

async function script(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await run('bash', [TEST_HOST_SCRIPT, ...args], {
      env: { ...process.env, ...opts.env },
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`test-host.sh ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Brings up host `t<run>-<tag>` with fake GPUs `gpus` ("NAME:TOTAL_MIB[:USED[:UTIL]],…"). */
export async function upTestHost(tag: string, opts: { gpus?: string } = {}): Promise<TestHost> {
  const name = testHostName(tag);
  const env = parseEnv(await script(['up', name], { env: { TEST_HOST_GPUS: opts.gpus ?? 'NVIDIA H200:143771' } }));
  return {
    name,
    addr: env.HOST_ADDR,
    user: env.SSH_USER,
    keyPath: env.SSH_KEY,
    knownHostsPath: env.SSH_KNOWN_HOSTS,
    hostKeyPath: env.SSH_HOST_KEY,
    dockerSock: env.DOCKER_SOCK,
    nvidiaSmiCalls: path.join(TEST_HOSTS_RUN, name, 'nvidia-smi.calls'),
    dockerHost: env.DOCKER_HOST,
  };
}

export async function downTestHost(name: string): Promise<void> {
  if (!existsSync(path.join(TEST_HOSTS_RUN, name))) return;
  await script(['down', name]);
}

/** Stops the host's sshd and its sessions: the host drops off (its engine and containers stay). */
export async function stopSshd(host: TestHost): Promise<void> {
  await script(['sshd-stop', host.name]);
}

export async function startSshd(host: TestHost): Promise<void> {
  await script(['sshd-start', host.name]);
}

export async function setGpus(host: TestHost, spec: string): Promise<void> {
  await script(['gpus', host.name, spec]);
}

/** Copies an image from this machine's engine into the host's (docker save | docker load). */
export async function loadImage(host: TestHost, image: string): Promise<void> {
  await script(['load', host.name, image], { timeoutMs: 180_000 });
}

/** The number of logged-in ssh connections the host's sshd holds open now (its per-connection processes). */
export function sshSessionCount(host: TestHost): number {
  const listener = readFileSync(path.join(TEST_HOSTS_RUN, host.name, 'sshd.pid'), 'utf8').trim();
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
      // OpenSSH forks one privileged monitor per connection from the listener. Count logged-in
      // connections only: one still in its handshake ("sshd: [accepted]", "[net]", "[preauth]")
      // is someone else's attempt, e.g. a host entry with the wrong host key retrying.
      if (ppid !== listener) continue;
      const title = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
      if (!/\[(accepted|net|preauth)\]/.test(title)) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}
