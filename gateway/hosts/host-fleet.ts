// Every host the gateway drives (docs/hosts.md): this machine (`local`) and the configured remote
// ones. For each remote host: its connection (ssh-host.ts, or a TLS engine for tcp://), its Docker
// runtime, its GPU probe. Together: one GPU probe with host-qualified ids, and one docker runtime
// that routes each start to its host (runtimes/host-router.ts).
//
// When a host drops, its models' servers count as gone (`host_unreachable`: in-flight requests
// end, the scheduler may place waiting ones elsewhere); when it comes back, its containers are
// adopted as after a daemon restart.

import { readFile } from 'node:fs/promises';
import Dockerode from 'dockerode';
import type { GatewayConfig, HostConfig } from '../config/types.js';
import type { GpuProbe } from '../gpu/probe.js';
import { StaticProbe } from '../gpu/static-probe.js';
import { DockerRuntime } from '../runtimes/docker-runtime.js';
import { HostRouterRuntime, type HostRuntime } from '../runtimes/host-router.js';
import type { ExitInfo, Instance, ReconcileModel, Runtime } from '../runtimes/runtime.js';
import { silentLogger, type GatewayLogger } from '../logger.js';
import { HostGpuIds } from './host-gpus.js';
import { MultiHostProbe } from './multi-host-probe.js';
import type { HostState } from './ssh-connection.js';
import { SshHost, type SshHostOptions } from './ssh-host.js';

import type { HostStatus } from '../status-types.js';

export const HOST_UNREACHABLE_REASON = 'host_unreachable';

/** One remote host as the fleet holds it. */
interface Member extends Tracked {
  config: HostConfig;
  ssh: SshHost | null;
  runtime: DockerRuntime | null;
  probe: GpuProbe | null;
  /** Why it could not even be set up (no key, no known_hosts): it stays unreachable. */
  setupError: string | null;
  /** tcp:// hosts: the engine's answer to the last ping. */
  tcpState?: { state: HostState; error: string | null };
}

/** What a host's instances are, for the runtime that tracks them. */
interface Tracked {
  live: Set<DroppableInstance>;
  /**
   * Servers of a host that dropped, by model: their containers may well still run there, and the
   * host's runtime still tracks them (so its own reconcile passes them by); offered for adoption
   * when the host is back.
   */
  dropped: Map<string, { inner: Instance; gone: () => boolean }>;
}

/** An instance whose host can drop: `exited` then settles with the host's reason. */
class DroppableInstance implements Instance {
  readonly exited: Promise<ExitInfo>;
  private drop!: (info: ExitInfo) => void;

  private innerGone = false;

  constructor(
    readonly modelId: string,
    readonly inner: Instance,
  ) {
    this.exited = Promise.race([inner.exited, new Promise<ExitInfo>((r) => (this.drop = r))]);
    void inner.exited.then(() => (this.innerGone = true));
  }

  /** The server itself ended (not only the host dropping). */
  get gone(): boolean {
    return this.innerGone;
  }

  get endpoint() {
    return this.inner.endpoint;
  }

  get gpuIndices() {
    return this.inner.gpuIndices;
  }

  hostLost(host: string, why: string | null): void {
    this.drop({
      code: null,
      signal: null,
      oomKilled: false,
      reason: `is on host ${host}, which is unreachable (${HOST_UNREACHABLE_REASON}${why ? `: ${why}` : ''})`,
      requested: false,
    });
  }

  stop(graceMs: number) {
    return this.inner.stop(graceMs);
  }

  logs(tail: number) {
    return this.inner.logs(tail);
  }

  pids() {
    return this.inner.pids();
  }

  sleep(...args: Parameters<Instance['sleep']>) {
    return this.inner.sleep(...args);
  }

  wake(...args: Parameters<Instance['wake']>) {
    return this.inner.wake(...args);
  }

  sleepingLevel(...args: Parameters<Instance['sleepingLevel']>) {
    return this.inner.sleepingLevel(...args);
  }
}

/** A runtime that records its instances so that the fleet can end them when the host drops. */
class TrackingRuntime implements Runtime {
  readonly kind = 'docker' as const;

  constructor(
    private readonly inner: Runtime,
    private readonly tracked: Tracked,
  ) {}

  private wrap(modelId: string, inst: Instance): Instance {
    const d = new DroppableInstance(modelId, inst);
    this.tracked.live.add(d);
    void d.exited.then(() => this.tracked.live.delete(d));
    return d;
  }

  async start(req: Parameters<Runtime['start']>[0]) {
    return this.wrap(req.model.id, await this.inner.start(req));
  }

  health() {
    return this.inner.health();
  }

  async reconcile(models: ReconcileModel[]) {
    const found = (await this.inner.reconcile?.(models)) ?? new Map<string, Instance>();
    const wanted = new Set(models.map((m) => m.model.id));
    for (const [id, d] of this.tracked.dropped) {
      if (d.gone()) continue;
      if (wanted.has(id) && !found.has(id)) found.set(id, d.inner);
      else void d.inner.stop(0); // its model runs elsewhere now, or is no longer configured here
    }
    this.tracked.dropped.clear();
    return new Map([...found].map(([id, inst]) => [id, this.wrap(id, inst)]));
  }

  async close() {
    await this.inner.close?.();
  }
}

export interface FleetOptions {
  logger?: GatewayLogger;
  /** This machine's probe (from `gpu`), null when it has no GPU. */
  localProbe: GpuProbe | null;
  /** This machine's docker runtime (from `docker`), when some model is a docker model. */
  localDocker: Runtime | null;
  ssh?: SshHostOptions;
  /** tcp:// hosts: how often the engine is pinged for its state (default 5 s). */
  tcpPingMs?: number;
  /**
   * Whether a model may take over its server found on a host that came back: only one that is
   * stopped or failed (a model started elsewhere meanwhile, or whose start waits, gets none; its
   * old container there is removed).
   */
  adoptable?: (modelId: string) => boolean;
}

export class HostFleet {
  readonly ids: HostGpuIds;
  readonly probe: MultiHostProbe;
  readonly docker: HostRouterRuntime;
  private readonly members: Member[];
  private readonly listeners = new Set<() => void>();
  private readonly returnListeners = new Set<(host: string, runtime: Runtime) => void>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly hostRuntimes: HostRuntime[];

  private constructor(
    private readonly config: GatewayConfig,
    members: Member[],
    private readonly opts: FleetOptions,
  ) {
    this.members = members;
    this.ids = new HostGpuIds(members.map((m) => m.config.name));
    const localRuntime: HostRuntime[] = opts.localDocker ? [{ host: 'local', runtime: opts.localDocker, unavailable: () => null }] : [];
    this.hostRuntimes = [
      ...localRuntime,
      ...members.flatMap((m): HostRuntime[] =>
        m.runtime ? [{ host: m.config.name, runtime: new TrackingRuntime(m.runtime, m), unavailable: () => this.unavailable(m) }] : [],
      ),
    ];
    this.docker = new HostRouterRuntime(this.ids, this.hostRuntimes);
    this.probe = new MultiHostProbe(this.ids, [
      ...(opts.localProbe ? [{ host: 'local', probe: opts.localProbe, connected: () => true }] : []),
      ...members.flatMap((m) =>
        m.probe ? [{ host: m.config.name, probe: m.probe, connected: () => this.stateOf(m).state === 'connected' }] : [],
      ),
    ]);
    for (const m of members) this.watch(m);
  }

  /** Sets up every remote host (a host that cannot be set up is reported unreachable, not thrown). */
  static async open(config: GatewayConfig, opts: FleetOptions): Promise<HostFleet> {
    const logger = opts.logger ?? silentLogger;
    const members: Member[] = [];
    for (const h of config.hosts) {
      const m: Member = { config: h, ssh: null, runtime: null, probe: null, setupError: null, live: new Set(), dropped: new Map() };
      try {
        if (h.target.kind === 'ssh') {
          m.ssh = await SshHost.open(
            {
              name: h.name,
              user: h.target.user,
              host: h.target.host,
              port: h.target.port,
              sshKeyPath: h.sshKeyPath,
              knownHostsPath: h.knownHostsPath,
            },
            { logger, ...opts.ssh },
          );
          const ssh = m.ssh;
          m.runtime = new DockerRuntime(config.docker, {
            logger,
            docker: ssh.docker,
            where: ssh.where,
            host: h.name,
            endpointFor: (p) => ssh.endpointFor(p),
            releasePort: (p) => void ssh.ports.release(p),
          });
          m.probe =
            h.gpu.probe === 'static'
              ? new StaticProbe(h.gpu.static)
              : ssh.gpuProbe({ pollSeconds: config.gpu.pollSeconds, command: h.gpu.nvidiaSmiPath });
        } else {
          const tls = h.tls!;
          const [ca, cert, key] = await Promise.all([readFile(tls.ca), readFile(tls.cert), readFile(tls.key)]).catch((err: Error) => {
            throw new Error(`cannot read the TLS files: ${err.message}`, { cause: err });
          });
          const docker = new Dockerode({ host: h.target.host, port: h.target.port, protocol: 'https', ca, cert, key });
          // No tunnel: a model's port is published on the host's address (docs/hosts.md).
          const addr = h.target.host;
          m.runtime = new DockerRuntime(config.docker, {
            logger,
            docker,
            where: h.docker,
            host: h.name,
            endpointFor: async (p) => `http://${addr.includes(':') ? `[${addr}]` : addr}:${p}`,
          });
          m.tcpState = { state: 'connecting', error: null };
          m.probe = h.gpu.probe === 'static' ? new StaticProbe(h.gpu.static) : null;
        }
      } catch (err) {
        m.setupError = (err as Error).message;
        logger.error({ host: h.name, err: m.setupError }, 'host cannot be used');
      }
      members.push(m);
    }
    return new HostFleet(config, members, opts);
  }

  private stateOf(m: Member): { state: HostState; error: string | null } {
    if (m.setupError) return { state: 'unreachable', error: m.setupError };
    if (m.ssh) return { state: m.ssh.state, error: m.ssh.error };
    return m.tcpState ?? { state: 'unreachable', error: 'not set up' };
  }

  private unavailable(m: Member): string | null {
    const s = this.stateOf(m);
    return s.state === 'connected' ? null : (s.error ?? s.state);
  }

  private watch(m: Member): void {
    let wasConnected = false;
    const changed = (state: HostState, error: string | null) => {
      if (state === 'unreachable' && wasConnected) {
        for (const inst of [...m.live]) {
          if (!inst.gone) m.dropped.set(inst.modelId, { inner: inst.inner, gone: () => inst.gone });
          inst.hostLost(m.config.name, error);
        }
      }
      if (state === 'connected' && !wasConnected) {
        const hr = this.hostRuntimes.find((h) => h.host === m.config.name);
        if (hr) for (const l of this.returnListeners) l(m.config.name, this.hostView(hr));
      }
      if (state === 'connected') wasConnected = true;
      else if (state === 'unreachable') wasConnected = false;
      for (const l of this.listeners) l();
    };
    if (m.ssh) {
      m.ssh.onState(changed);
      if (m.ssh.state === 'connected') wasConnected = true;
    } else if (m.tcpState && m.runtime) {
      const rt = m.runtime;
      const ping = async () => {
        const h = await rt.health();
        m.tcpState = h.ok ? { state: 'connected', error: null } : { state: 'unreachable', error: h.reason };
        changed(m.tcpState.state, m.tcpState.error);
      };
      void ping();
      const t = setInterval(() => void ping(), this.opts.tcpPingMs ?? 5000);
      t.unref();
      this.timers.push(t);
    }
  }

  /**
   * A runtime that adopts on one host only (for a host that came back): the scheduler's adoption
   * runs over it like over any runtime at start-up.
   */
  private hostView(hr: HostRuntime): Runtime {
    return {
      kind: 'docker',
      start: (req) => this.docker.start(req),
      health: () => hr.runtime.health(),
      reconcile: (models) => {
        const ok = this.opts.adoptable;
        return this.docker.reconcileHost(hr, ok ? models.filter((m) => ok(m.model.id)) : models);
      },
    };
  }

  /** Resolves once every ssh host has tried to connect once. */
  async settled(): Promise<void> {
    await Promise.all(this.members.map((m) => m.ssh?.connection.settled()));
  }

  /** A host's state changed (for the status document). */
  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** A host came back (or connected late): adopt its containers through `runtime`. */
  onReturn(cb: (host: string, runtime: Runtime) => void): () => void {
    this.returnListeners.add(cb);
    return () => this.returnListeners.delete(cb);
  }

  /** The `hosts` of the status document: `local` first. */
  status(): HostStatus[] {
    const snap = this.probe.state().snapshot;
    const gpusOf = (host: string) => (snap?.gpus ?? []).filter((g) => g.host === host).map((g) => this.ids.of(g.index).index);
    const local: HostStatus = {
      name: 'local',
      docker: this.config.docker.dockerHost ?? this.config.docker.socketPath,
      state: 'connected',
      error: null,
      gpus: gpusOf('local'),
    };
    return [
      local,
      ...this.members.map((m) => {
        const s = this.stateOf(m);
        return { name: m.config.name, docker: m.config.docker, state: s.state, error: s.error, gpus: gpusOf(m.config.name) };
      }),
    ];
  }

  /** The ssh host of `name` (tests, diagnostics). */
  sshHost(name: string): SshHost | null {
    return this.members.find((m) => m.config.name === name)?.ssh ?? null;
  }

  /** Ends the connections (the gateway stops the probe and closes the runtimes first). */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const m of this.members) await m.ssh?.close();
  }
}
