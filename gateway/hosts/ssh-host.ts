// A remote host reached over ssh (docs/hosts.md): its one ssh connection, its Docker engine as a
// local unix socket (each connection dockerode makes there is one streamlocal channel to the
// host's /var/run/docker.sock), its models' ports as local 127.0.0.1 listeners, its nvidia-smi.
//
// Not docker-modem's own `protocol: 'ssh'`: that logs in again and runs `docker system
// dial-stdio` for every API call (200+ ms each, one login each, log streams that never end).

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { parseKnownHosts } from './known-hosts.js';
import { PortForwards } from './port-forwards.js';
import type { BackoffPolicy } from './reconnect-backoff.js';
import { remoteNvidiaSmiProbe } from './remote-nvidia-smi.js';
import { listenBridge, type SocketBridge } from './socket-bridge.js';
import { resolveSshAuth } from './ssh-auth.js';
import { SshConnection, type HostState, type Timers } from './ssh-connection.js';
import { silentLogger, type GatewayLogger } from '../logger.js';

/** The engine socket on the host (Docker's default; where `docker` on that host talks to). */
export const REMOTE_DOCKER_SOCKET = '/var/run/docker.sock';

export interface SshHostConfig {
  name: string;
  user: string;
  host: string;
  port: number;
  sshKeyPath?: string | null;
  /** Default ~/.ssh/known_hosts. */
  knownHostsPath?: string | null;
}

export interface SshHostOptions {
  logger?: GatewayLogger;
  backoff?: BackoffPolicy;
  timers?: Timers;
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  env?: NodeJS.ProcessEnv;
  home?: string;
}

export class HostSetupError extends Error {
  override name = 'HostSetupError';
}

export class SshHost {
  readonly docker: Dockerode;
  readonly ports: PortForwards;
  /** Where messages say the engine is: `ssh://root@10.0.0.5`. */
  readonly where: string;

  private constructor(
    readonly name: string,
    readonly connection: SshConnection,
    private readonly socketDir: string,
    private readonly engine: SocketBridge,
    socketPath: string,
  ) {
    this.where = `ssh://${connection.target}`;
    this.docker = new Dockerode({ socketPath });
    this.ports = new PortForwards((port) => connection.openTcp(port));
  }

  /**
   * Reads the credentials and known_hosts (a missing or unreadable file is an error here, before
   * anything connects), makes the local engine socket, and starts connecting.
   */
  static async open(cfg: SshHostConfig, opts: SshHostOptions = {}): Promise<SshHost> {
    const logger = opts.logger ?? silentLogger;
    const home = opts.home ?? os.homedir();
    const auth = await resolveSshAuth({ sshKeyPath: cfg.sshKeyPath, env: opts.env, home }).catch((err: Error) => {
      throw new HostSetupError(`host ${cfg.name}: ${err.message}`, { cause: err });
    });
    const knownHostsPath = cfg.knownHostsPath ?? path.join(home, '.ssh', 'known_hosts');
    let knownText: string;
    try {
      knownText = await readFile(knownHostsPath, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new HostSetupError(
        `host ${cfg.name}: cannot read known_hosts ${knownHostsPath} (${code ?? (err as Error).message}); ` +
          `connect once with \`ssh ${cfg.user}@${cfg.host}\` to record the host's key, or set knownHostsPath`,
        { cause: err },
      );
    }
    const connection = new SshConnection({
      name: cfg.name,
      host: cfg.host,
      port: cfg.port,
      username: cfg.user,
      auth,
      knownHosts: { entries: parseKnownHosts(knownText), path: knownHostsPath },
      backoff: opts.backoff,
      timers: opts.timers,
      readyTimeoutMs: opts.readyTimeoutMs,
      keepaliveIntervalMs: opts.keepaliveIntervalMs,
      keepaliveCountMax: opts.keepaliveCountMax,
      logger,
    });
    // A private directory: the socket gives whoever can open it the host's engine.
    const socketDir = await mkdtemp(path.join(os.tmpdir(), `vllm-gw-host-${cfg.name.replace(/[^A-Za-z0-9_-]/g, '_')}-`));
    const socketPath = path.join(socketDir, 'docker.sock');
    const engine = await listenBridge(socketPath, () => connection.openStreamLocal(REMOTE_DOCKER_SOCKET));
    const host = new SshHost(cfg.name, connection, socketDir, engine, socketPath);
    connection.start();
    return host;
  }

  get state(): HostState {
    return this.connection.state;
  }

  get error(): string | null {
    return this.connection.error;
  }

  onState(cb: (state: HostState, error: string | null) => void): () => void {
    this.connection.on('state', cb);
    return () => this.connection.off('state', cb);
  }

  /** The base URL that reaches `remotePort` on the host's 127.0.0.1 from here. */
  async endpointFor(remotePort: number): Promise<string> {
    return `http://127.0.0.1:${await this.ports.localPort(remotePort)}`;
  }

  gpuProbe(opts: { pollSeconds: number; command?: string; now?: () => number }) {
    return remoteNvidiaSmiProbe(this.connection, { host: this.name, ...opts });
  }

  async close(): Promise<void> {
    this.connection.close();
    await this.ports.closeAll();
    await this.engine.close();
    await rm(this.socketDir, { recursive: true, force: true });
  }
}
