// `runtime: docker` on several hosts (docs/hosts.md): one DockerRuntime per host (this machine's
// engine, and each remote host's through its ssh connection), chosen by the host of the GPUs
// placement picked (host-qualified ids, gateway/hosts/host-gpus.ts). The scheduler sees one
// runtime with host-qualified GPU ids; each host's runtime sees its own GPU indices.

import { errors } from '../errors.js';
import type { HostGpuIds } from '../hosts/host-gpus.js';
import type { ExitInfo, Instance, ReconcileModel, Runtime, RuntimeHealth, StartRequest } from './runtime.js';

export interface HostRuntime {
  host: string;
  runtime: Runtime;
  /** Why the host cannot be used now (unreachable), or null. */
  unavailable(): string | null;
}

/** An instance on a host: GPU ids host-qualified, and which host it is on. */
export class HostInstance implements Instance {
  readonly gpuIndices: readonly number[] | null;

  constructor(
    readonly host: string,
    private readonly inner: Instance,
    ids: HostGpuIds,
  ) {
    this.gpuIndices = inner.gpuIndices ? inner.gpuIndices.map((i) => ids.id(host, i)) : null;
  }

  get endpoint(): string {
    return this.inner.endpoint;
  }

  get exited(): Promise<ExitInfo> {
    return this.inner.exited;
  }

  stop(graceMs: number): Promise<void> {
    return this.inner.stop(graceMs);
  }

  logs(tail: number): Promise<string> {
    return this.inner.logs(tail);
  }

  pids(): Promise<number[]> {
    return this.inner.pids();
  }

  sleep(...args: Parameters<Instance['sleep']>): Promise<void> {
    return this.inner.sleep(...args);
  }

  wake(...args: Parameters<Instance['wake']>): Promise<void> {
    return this.inner.wake(...args);
  }

  sleepingLevel(...args: Parameters<Instance['sleepingLevel']>): ReturnType<Instance['sleepingLevel']> {
    return this.inner.sleepingLevel(...args);
  }
}

export class HostRouterRuntime implements Runtime {
  readonly kind = 'docker' as const;

  constructor(
    private readonly ids: HostGpuIds,
    private readonly hosts: readonly HostRuntime[],
  ) {}

  private byName(host: string): HostRuntime | undefined {
    return this.hosts.find((h) => h.host === host);
  }

  async start(req: StartRequest): Promise<Instance> {
    const first = req.gpuIndices[0];
    const host = first === undefined ? this.hosts[0]?.host : this.ids.hostOf(first);
    const target = host === undefined ? undefined : this.byName(host);
    if (!target) throw errors.noEngineForHost(req.model.id, host ?? '(none)');
    const why = target.unavailable();
    if (why) throw errors.hostUnreachable(req.model.id, target.host, why);
    const local = req.gpuIndices.map((i) => this.ids.of(i).index);
    const inst = await target.runtime.start({ ...req, gpuIndices: local });
    return new HostInstance(target.host, inst, this.ids);
  }

  /** Healthy while some host's engine answers; the others are named in the reason. */
  async health(): Promise<RuntimeHealth> {
    const results = await Promise.all(
      this.hosts.map(async (h) => {
        const why = h.unavailable();
        if (why) return { host: h.host, ok: false, reason: `unreachable: ${why}` };
        const r = await h.runtime.health().catch((err: Error) => ({ ok: false, reason: err.message }));
        return { host: h.host, ...r };
      }),
    );
    const bad = results.filter((r) => !r.ok);
    const ok = bad.length < results.length;
    return { ok, reason: bad.length === 0 ? null : bad.map((r) => `host ${r.host}: ${r.reason}`).join('; ') };
  }

  /** Adopts on every reachable host the containers of the models allowed there (the first found wins). */
  async reconcile(models: ReconcileModel[]): Promise<Map<string, Instance>> {
    const out = new Map<string, Instance>();
    for (const h of this.hosts) {
      // This machine's engine not answering makes the scheduler ask again; a remote host that fails
      // here is adopted when it is back (host-fleet.ts), it holds no start-up back.
      const found = await this.reconcileHost(h, models).catch((err: Error) => {
        if (h.host === 'local') throw err;
        return new Map<string, Instance>();
      });
      for (const [id, inst] of found) {
        if (out.has(id)) void inst.stop(0);
        else out.set(id, inst);
      }
    }
    return out;
  }

  /** Adopts the containers on one host (at start, and when a host comes back). */
  async reconcileHost(h: HostRuntime, models: ReconcileModel[]): Promise<Map<string, Instance>> {
    const out = new Map<string, Instance>();
    if (!h.runtime.reconcile || h.unavailable()) return out;
    const mine = models
      .filter((m) => m.model.runtime === 'docker' && this.ids.hostsFor(m.model).includes(h.host))
      .map((m) => ({
        ...m,
        gpuIndices: m.gpuIndices.filter((i) => this.ids.hostOf(i) === h.host).map((i) => this.ids.of(i).index),
        utilizationOn: m.utilizationOn
          ? (local: readonly number[]) => m.utilizationOn!(local.map((i) => this.ids.id(h.host, i)))
          : undefined,
      }));
    const found = await h.runtime.reconcile(mine);
    for (const [id, inst] of found) out.set(id, new HostInstance(h.host, inst, this.ids));
    return out;
  }

  host(name: string): HostRuntime | undefined {
    return this.byName(name);
  }

  async close(): Promise<void> {
    for (const h of this.hosts) await h.runtime.close?.();
  }
}
