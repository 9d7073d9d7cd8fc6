// The validated, defaulted, frozen configuration (docs/configuration.md). The schema in schema.ts
// produces exactly this shape; the rest of the gateway only ever sees these types.

import type { Priority } from '../scheduler/priority.js';

export type RuntimeKind = 'docker' | 'process' | 'remote';

interface ModelCommon {
  /** The id clients send as "model" (the key under `models:`). */
  id: string;
  aliases: string[];
  maxConcurrent: number; // resolved: model's own, else limits.maxConcurrentPerModel
  maxQueue: number; // resolved: model's own, else limits.maxQueuePerModel
  ttlSeconds: number; // 0 = never stopped for idleness
  pinned: boolean;
  preload: boolean;
  healthPath: string; // default /health
}

/** vLLM sleep mode (docs/configuration.md `sleep`): the first eviction tier of a docker or process model. */
export interface SleepConfig {
  /** 0 = off; 1 = weights kept in host RAM (wakes in seconds); 2 = weights dropped (reloaded at the wake). */
  level: 0 | 1 | 2;
  /** GPU memory a sleeping server still holds (CUDA context, buffers), where nvidia-smi can't tell. */
  residualGiB: number;
  /** Host RAM a level-1 sleeper holds; "auto" = vramGiB (see sleepHostRamGiB in sleep-config.ts). */
  hostRamGiB: 'auto' | number;
}

export interface DockerModelConfig extends ModelCommon {
  runtime: 'docker';
  image: string;
  model: string;
  /** The hosts it may run on, in order of preference; absent = every host, `local` first. */
  hosts?: string[];
  vramGiB: number;
  sleep: SleepConfig;
  gpus: 'auto' | number[];
  args: string[];
  env: Record<string, string>;
}

export interface ProcessModelConfig extends ModelCommon {
  runtime: 'process';
  command: string[];
  /** Optional for process models: passed as --model nowhere; kept for display. */
  model?: string;
  vramGiB: number;
  sleep: SleepConfig;
  gpus: 'auto' | number[];
  args: string[];
  env: Record<string, string>;
}

export interface RemoteModelConfig extends ModelCommon {
  runtime: 'remote';
  url: string;
  apiKey: string;
  /** Scrape its /metrics for the engine figures (managed models always are). */
  scrapeMetrics: boolean;
}

export type ModelConfig = DockerModelConfig | ProcessModelConfig | RemoteModelConfig;
export type LocalModelConfig = DockerModelConfig | ProcessModelConfig;

export interface ApiKeyPriority {
  key: string;
  priority: Priority;
}

export interface GatewayConfig {
  /** Absolute path of the file this came from (the admin token file lives beside it). */
  sourcePath: string | null;
  listen: { host: string; port: number; ollamaPort: number | null };
  auth: {
    /** Every key (the plain ones and those of `{key, priority}` entries). */
    apiKeys: string[];
    /** The keys that give their requests a class (`auth.apiKeys` entries `{key, priority}`). */
    keyPriorities: ApiKeyPriority[];
    adminToken: string; // "auto" or a literal token
    allowedHosts: string[];
    allowedOrigins: string[];
  };
  limits: {
    maxQueuePerModel: number;
    maxConcurrentPerModel: number;
    queueTimeoutSeconds: number;
    maxBodyBytes: number;
  };
  retry: { maxAttempts: number; initialDelaySeconds: number; backoff: number };
  timeouts: { connectSeconds: number; firstByteSeconds: number; idleSeconds: number; startSeconds: number };
  shutdown: { drainSeconds: number; stopModels: boolean };
  scheduling: {
    /**
     * A busy model whose memory a waiting start needs keeps serving at least this long after it
     * became ready, then yields; 0 = busy models are never displaced.
     */
    swapAfterSeconds: number;
    /**
     * A busy model serving interactive requests keeps its memory this long after it became ready
     * against a start that only batch requests wait for (docs/scheduling.md "Priority lanes").
     */
    batchSwapAfterSeconds: number;
    /** The class of a request without an X-Priority header or a key with a class. */
    defaultPriority: Priority;
    /** Host RAM all level-1 sleepers may hold together; "auto" = half of the host's RAM. */
    sleepHostRamGiB: 'auto' | number;
  };
  streaming: {
    /** A streamed request that must wait gets 200 and SSE comment lines until the upstream answers. */
    progressComments: boolean;
  };
  gpu: {
    probe: 'auto' | 'nvidia-smi' | 'static';
    nvidiaSmiPath: string;
    pollSeconds: number;
    reserveGiB: number;
    static: Array<{ name: string; totalGiB: number }>;
  };
  docker: {
    socketPath: string;
    /** From DOCKER_HOST when set (unix:// or tcp://), else null. */
    dockerHost: string | null;
    containerPrefix: string;
    pull: 'never' | 'missing' | 'always';
    hfCacheDir: string; // "~" expanded
    gpuRequests: boolean;
  };
  /** Remote machines' Docker engines, in file order (docs/hosts.md); the local machine is not listed. */
  hosts: HostConfig[];
  /** Models in file order. */
  models: ModelConfig[];
}

export type HostTarget = { kind: 'ssh'; user: string; host: string; port: number } | { kind: 'tcp'; host: string; port: number };

export interface HostConfig {
  name: string;
  /** As written: ssh://user@addr[:port] or tcp://addr:port. */
  docker: string;
  target: HostTarget;
  /** tcp:// only: file paths ("~" expanded). */
  tls: { ca: string; cert: string; key: string } | null;
  /** ssh:// only ("~" expanded); null = the ssh agent, then ~/.ssh/id_ed25519, id_rsa. */
  sshKeyPath: string | null;
  /** ssh:// only ("~" expanded); null = ~/.ssh/known_hosts. */
  knownHostsPath: string | null;
  gpu: { probe: 'nvidia-smi' | 'static'; nvidiaSmiPath: string; static: Array<{ name: string; totalGiB: number }> };
}

export interface ConfigIssue {
  file: string;
  /** Dotted key path, e.g. "models.qwen.vramGiB". Empty for file-level problems. */
  path: string;
  message: string;
}
