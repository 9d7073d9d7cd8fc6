// Pure: the container a docker model runs as, built from the config alone (docs/docker.md).
// Nothing in a request reaches this function: image, command, mounts and devices come from the
// validated config and from placement (GPU indices, utilization).

import { substituteModelPlaceholders, type ModelPlaceholderValues } from '../config/env-substitution.js';
import type Dockerode from 'dockerode';
import { effectiveArgs, effectiveEnv } from '../config/sleep-config.js';
import type { DockerModelConfig, GatewayConfig } from '../config/types.js';
import { containerLabels, containerName, modelConfigHash } from './docker-naming.js';

/** The port vLLM listens on inside the container; `${PORT}` in a docker model. */
export const CONTAINER_PORT = 8000;
export const HF_CACHE_IN_CONTAINER = '/root/.cache/huggingface';

export type DockerSettings = Pick<GatewayConfig['docker'], 'containerPrefix' | 'hfCacheDir' | 'gpuRequests'>;

export interface SpecInput {
  model: DockerModelConfig;
  gpuIndices: readonly number[];
  gpuMemoryUtilization: number;
}

export interface SpecOptions {
  /** Shared memory for vLLM: "host" = `--ipc=host` (vLLM's recommendation), or a /dev/shm size in bytes. */
  shm?: 'host' | number;
  /** The remote host (docs/hosts.md) whose engine runs it; part of its config hash and labels. */
  host?: string;
}

export interface ContainerSpec {
  name: string;
  configHash: string;
  /** The port the server listens on inside the container (8000 unless args override `--port`). */
  containerPort: number;
  options: Dockerode.ContainerCreateOptions;
}

/** "0.9" not "0.90"; the lifecycle has already floored it to 2 decimals. */
export function formatUtilization(f: number): string {
  return String(Number(f.toFixed(2)));
}

/** The value of the last occurrence of `--flag V` or `--flag=V` (argparse: the last one wins). */
export function lastFlagValue(argv: readonly string[], flag: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === flag && i + 1 < argv.length) {
      value = argv[i + 1];
      i++;
    } else if (a.startsWith(`${flag}=`)) {
      value = a.slice(flag.length + 1);
    }
  }
  return value;
}

export function placeholderValues(input: SpecInput, gpuRequests: boolean): ModelPlaceholderValues {
  return {
    PORT: String(CONTAINER_PORT),
    MODEL_ID: input.model.id,
    GPU_MEMORY_UTILIZATION: formatUtilization(input.gpuMemoryUtilization),
    // With DeviceRequests the container sees its GPUs renumbered from 0; without them, the host's.
    CUDA_VISIBLE_DEVICES: (gpuRequests ? input.gpuIndices.map((_, i) => i) : input.gpuIndices).join(','),
  };
}

/**
 * The container's command (the image's entrypoint is kept): our flags first, then the model's args,
 * then `--enable-sleep-mode` when the model sleeps (unless its args have it).
 */
export function buildCommand(input: SpecInput, values: ModelPlaceholderValues): string[] {
  const { model } = input;
  return [
    '--model',
    model.model,
    '--served-model-name',
    model.id,
    '--host',
    '0.0.0.0',
    '--port',
    String(CONTAINER_PORT),
    '--gpu-memory-utilization',
    formatUtilization(input.gpuMemoryUtilization),
    ...effectiveArgs(model).map((a) => substituteModelPlaceholders(a, values)),
  ];
}

export function buildContainerSpec(input: SpecInput, docker: DockerSettings, opts: SpecOptions = {}): ContainerSpec {
  const { model } = input;
  const values = placeholderValues(input, docker.gpuRequests);
  const cmd = buildCommand(input, values);
  const portFlag = Number(lastFlagValue(cmd, '--port'));
  const containerPort = Number.isInteger(portFlag) && portFlag > 0 && portFlag < 65536 ? portFlag : CONTAINER_PORT;
  const portKey = `${containerPort}/tcp`;
  const hash = modelConfigHash(model, input.gpuMemoryUtilization, opts.host);
  const env = Object.entries(effectiveEnv(model))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${substituteModelPlaceholders(v, values)}`);
  const shm = opts.shm ?? 'host';

  const hostConfig: Dockerode.HostConfig = {
    // Docker picks the host port; only loopback can reach it.
    PortBindings: { [portKey]: [{ HostIp: '127.0.0.1', HostPort: '' }] },
    Binds: [`${docker.hfCacheDir}:${HF_CACHE_IN_CONTAINER}`],
    RestartPolicy: { Name: 'no' },
    // docker-init as PID 1 forwards SIGTERM: a server that has not installed its handler yet (still
    // loading) would otherwise ignore it as PID 1, and every early stop would wait for the full grace.
    Init: true,
    ...(shm === 'host' ? { IpcMode: 'host' } : { ShmSize: shm }),
  };
  if (docker.gpuRequests && input.gpuIndices.length > 0) {
    // As `docker run --gpus '"device=0,1"'` sends it.
    hostConfig.DeviceRequests = [{ Driver: '', Count: 0, DeviceIDs: input.gpuIndices.map(String), Capabilities: [['gpu']] }];
  }

  const name = containerName(docker.containerPrefix, model.id);
  return {
    name,
    configHash: hash,
    containerPort,
    options: {
      name,
      Image: model.image,
      Cmd: cmd,
      Env: env,
      Labels: containerLabels({
        prefix: docker.containerPrefix,
        modelId: model.id,
        configHash: hash,
        gpuIndices: input.gpuIndices,
        host: opts.host,
      }),
      ExposedPorts: { [portKey]: {} },
      Tty: false,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      OpenStdin: false,
      HostConfig: hostConfig,
    },
  };
}
