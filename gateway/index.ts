// createGateway(config): the gateway as an object the CLI and the Electron main process embed.
// Wires config → GPU probe → runtimes → scheduler → status hub → HTTP server.

import path from 'node:path';
import { hostname, platform, cpus } from 'node:os';
import pino, { type Logger } from 'pino';
import { Agent } from 'undici';
import type { FastifyInstance } from 'fastify';
import { createModelActions } from './model-actions.js';
import type { GatewayConfig } from './config/types.js';
import { resolveAdminToken } from './config/admin-token.js';
import { EngineScraper, isScrapedState } from './engine/engine-scraper.js';
import { History } from './engine/history.js';
import { StatusHub } from './events.js';
import type { GatewayHandle } from './gateway-handle.js';
import { createGpuProbe } from './gpu/create-probe.js';
import { readHostInfo } from './gpu/host-info.js';
import type { GpuProbe } from './gpu/probe.js';
import { redactingLogger, Redactor } from './http/redact.js';
import { buildServer } from './http/server.js';
import { listenOllama, type OllamaListener } from './ollama/ollama-listener.js';
import { Metrics } from './metrics.js';
import { ProcessRuntime } from './runtimes/process-runtime.js';
import type { Runtime } from './runtimes/runtime.js';
import { Scheduler } from './scheduler/scheduler.js';
import { pinoIsoTime } from './iso-time.js';
import { RecentRing } from './recent-requests.js';
import { buildStatus, gpuMemory } from './status.js';
import type { RecentRequest, StatusDocument } from './status-types.js';
import type { HostFleet } from './hosts/host-fleet.js';
import type { SshHostOptions } from './hosts/ssh-host.js';

export interface CreateGatewayOptions {
  logger?: Logger;
  /** Replaces the GPU probe chosen from config (tests). */
  gpuProbe?: GpuProbe | null;
  /** Runtimes to use instead of those the config implies (tests inject instrumented ones). */
  runtimes?: Partial<Record<'docker' | 'process', Runtime>>;
  /** ssh settings of remote hosts (tests: a short backoff). */
  hostOptions?: SshHostOptions;
  /** Registers the dashboard under /ui. */
  registerUi?: (app: FastifyInstance) => void | Promise<void>;
}

const RECENT_REQUESTS = 50;

export interface Gateway extends GatewayHandle {
  readonly app: FastifyInstance;
  readonly scheduler: Scheduler;
  readonly config: GatewayConfig;
  /** The port of the Ollama listener once listening (listen.ollamaPort; 0 picks one), else null. */
  readonly ollamaPort: number | null;
}

async function defaultRuntimes(config: GatewayConfig, log: Logger): Promise<Partial<Record<'docker' | 'process', Runtime>>> {
  const runtimes: Partial<Record<'docker' | 'process', Runtime>> = {};
  const configDir = config.sourcePath ? path.dirname(config.sourcePath) : process.cwd();
  if (config.models.some((m) => m.runtime === 'process')) {
    const stateFile = config.sourcePath ? `${config.sourcePath}.processes.json` : null;
    runtimes.process = new ProcessRuntime({ configDir, stateFile, logger: log });
  }
  // This machine's engine, for the docker models that may run here (`hosts` absent or naming `local`).
  if (config.models.some((m) => m.runtime === 'docker' && (!m.hosts || m.hosts.includes('local')))) {
    const { DockerRuntime } = await import('./runtimes/docker-runtime.js');
    runtimes.docker = new DockerRuntime(config.docker, { logger: log });
  }
  return runtimes;
}

export async function createGateway(config: GatewayConfig, opts: CreateGatewayOptions = {}): Promise<Gateway> {
  const adminToken = (await resolveAdminToken(config)).token;
  const logger = redactingLogger(opts.logger ?? pino({ base: undefined, timestamp: pinoIsoTime }), new Redactor(config, adminToken));
  const localGpu = opts.gpuProbe !== undefined ? opts.gpuProbe : await createGpuProbe(config.gpu);
  let gpu = localGpu;
  let runtimes = opts.runtimes ?? (await defaultRuntimes(config, logger));
  // Remote hosts (docs/hosts.md): one probe over every host's GPUs, one docker runtime routing to each.
  let fleet: HostFleet | null = null;
  if (config.hosts.length > 0) {
    const { HostFleet } = await import('./hosts/host-fleet.js');
    fleet = await HostFleet.open(config, {
      logger,
      localProbe: localGpu,
      localDocker: runtimes.docker ?? null,
      ssh: opts.hostOptions,
      adoptable: (id) => {
        const state = scheduler.entries.get(id)?.state;
        return state === 'stopped' || state === 'failed';
      },
    });
    gpu = fleet.probe;
    runtimes = { ...runtimes, docker: fleet.docker };
    await fleet.settled();
  }
  gpu?.start();
  const scheduler = new Scheduler({ config, runtimes, gpu, log: logger, hostRamTotalMiB: async () => (await readHostInfo()).memTotalMiB });
  const startedAt = new Date();
  const recent = new RecentRing<RecentRequest>(RECENT_REQUESTS);
  let listenUrl = `http://${config.listen.host}:${config.listen.port}`;
  let host: StatusDocument['host'] = {
    hostname: hostname(),
    platform: platform(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    memTotalMiB: 0,
    memFreeMiB: 0,
  };
  void readHostInfo()
    .then((h) => (host = h))
    .catch(() => {});

  // Each running model's own /metrics, every poll interval (gateway/engine/): it reads a snapshot
  // of the models and never calls the scheduler.
  const pollMs = config.gpu.pollSeconds * 1000;
  const history = new History(
    config.gpu.pollSeconds,
    config.models.map((m) => m.id),
  );
  const scraper = new EngineScraper({
    pollMs,
    targets: () =>
      [...scheduler.entries.values()].map((e) => ({
        id: e.id,
        state: e.state,
        endpoint: e.config.runtime === 'remote' ? e.config.url : (e.instance?.endpoint ?? null),
        scrape: e.config.runtime !== 'remote' || e.config.scrapeMetrics,
      })),
    onChange: () => hub.changed(),
    onTick: (at) =>
      history.record({
        at,
        gpus: gpuMemory({ gpu, scheduler, hosts: fleet }),
        models: new Map(config.models.map((m) => [m.id, scraper.engine(m.id)?.generationTokensPerSecond ?? null])),
      }),
  });
  // Figures only while the model is in a scraped state: a model that just stopped has none at once.
  const engineOf = (id: string) => {
    const e = scheduler.entries.get(id);
    return e && isScrapedState(e.state) ? scraper.engine(id) : null;
  };
  const status = () =>
    buildStatus({
      config,
      scheduler,
      gpu,
      startedAt,
      listen: () => listenUrl,
      recent: () => recent.list(),
      host: () => host,
      engine: engineOf,
      hosts: fleet,
    });
  const hub = new StatusHub(status);
  scheduler.on('change', () => hub.changed());
  gpu?.onReading(() => hub.changed());
  fleet?.onChange(() => hub.changed());
  // A host that came back: its containers are adopted as after a daemon restart.
  fleet?.onReturn((name, runtime) => {
    if (!initialised) return; // start-up's own adoption covers it
    logger.info({ host: name }, 'host is back: adopting its model servers');
    scheduler.adoptFrom(runtime).catch((err: Error) => logger.warn({ host: name, err: err.message }, 'adoption on a returned host failed'));
  });
  const metrics = new Metrics(scheduler, status);
  metrics.registerEngine({ engine: engineOf, tokensSeen: (id) => scraper.tokensSeen(id) });
  const historyDoc = (seconds?: number) => history.document(Date.now(), seconds);
  const dispatcher = new Agent({
    connect: { timeout: config.timeouts.connectSeconds * 1000 },
    keepAliveTimeout: 4000,
    connections: null,
    pipelining: 1,
  });

  let initialised = false;
  const ready = async () => {
    const reasons: string[] = [];
    if (!initialised || scheduler.reconcilePending) reasons.push('the gateway is still adopting running model servers');
    if (scheduler.isShuttingDown) reasons.push('the gateway is shutting down');
    for (const [kind, runtime] of Object.entries(runtimes)) {
      const h = await runtime.health().catch((err: Error) => ({ ok: false, reason: err.message }));
      if (!h.ok) reasons.push(`${kind} runtime: ${h.reason}`);
    }
    const needsGpu = config.models.some((m) => m.runtime !== 'remote');
    const probe = gpu?.state();
    if (needsGpu && !gpu) reasons.push('no GPU found: install the NVIDIA driver (nvidia-smi) or set gpu.probe: static');
    else if (needsGpu && probe && !probe.snapshot)
      reasons.push(`GPU probe (${gpu!.kind}) has no reading yet${probe.error ? `: ${probe.error}` : ''}`);
    else if (probe?.error) reasons.push(`GPU probe (${gpu!.kind}): ${probe.error}`);
    return { ok: reasons.length === 0, reasons };
  };

  const actions = createModelActions(scheduler, status);
  const app = buildServer({
    config,
    scheduler,
    actions,
    hub,
    metrics,
    dispatcher,
    adminToken,
    logger,
    status,
    history: historyDoc,
    ready,
    recordRequest: (r) => {
      recent.add(r);
      hub.changed();
    },
    requestChanged: () => hub.changed(),
    registerUi: opts.registerUi,
    loadedAt: startedAt,
  });

  const init = (async () => {
    // With hosts, every connected host's first reading (this machine's may be there already).
    if (gpu && (fleet || !gpu.state().snapshot)) await gpu.refresh().catch(() => {});
    await scheduler.init();
    initialised = true;
    scraper.start();
  })();
  init.catch((err: Error) => logger.error({ err: err.message }, 'start-up reconciliation failed'));

  let closing: Promise<void> | null = null;
  /** A cut of the drain was asked for (close({cutDrain})); `cutConnections` does it once closing. */
  let drainCut = false;
  let cutConnections: (() => void) | null = null;
  let ollama: OllamaListener | null = null;

  return {
    app,
    scheduler,
    config,
    adminToken,
    get ollamaPort() {
      return ollama?.port ?? null;
    },
    async listen() {
      await init.catch(() => {});
      await app.listen({ host: config.listen.host, port: config.listen.port });
      if (config.listen.ollamaPort !== null) {
        try {
          ollama = await listenOllama(app, config.listen.host, config.listen.ollamaPort);
        } catch (err) {
          await app.close(); // all or nothing: no half-started gateway on the main port
          throw err;
        }
      }
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
      const h = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
      listenUrl = `http://${h}:${port}`;
      return listenUrl;
    },
    status,
    history: historyDoc,
    onStatus: (cb) => hub.subscribe(cb),
    load: (id) => actions.load(id),
    unload: (id, o) => actions.unload(id, o),
    sleep: (id) => actions.sleep(id),
    logs: (id, tail) => actions.logs(id, tail),
    close(opts) {
      if (opts?.cutDrain) {
        drainCut = true;
        scheduler.endDrain();
        cutConnections?.();
      }
      closing ??= (async () => {
        await init.catch(() => {});
        const drainMs = config.shutdown.drainSeconds * 1000;
        // When the drain is over (its time, or a cut asked for), every connection still open is cut:
        // a client half-way through its body, or one that reads nothing, must not hold the process
        // (app.close() waits for all).
        const cut = () => {
          app.server.closeAllConnections();
          ollama?.closeAllConnections();
        };
        const cutTimer = setTimeout(cut, drainMs);
        try {
          const closed = Promise.all([app.close(), ollama?.close(), scheduler.shutdown(drainMs, config.shutdown.stopModels)]);
          cutConnections = cut;
          if (drainCut) cut();
          await closed;
        } finally {
          clearTimeout(cutTimer);
          cutConnections = null;
        }
        await scraper.stop();
        hub.close();
        await gpu?.stop();
        for (const r of Object.values(runtimes)) await r.close?.();
        await fleet?.close();
        await dispatcher.close();
      })();
      return closing;
    },
  };
}

export type { GatewayHandle } from './gateway-handle.js';
