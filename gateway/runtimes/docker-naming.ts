// Pure: the names, labels and config hash of the containers the gateway manages (docs/docker.md).

import { createHash } from 'node:crypto';
import { effectiveArgs, effectiveEnv } from '../config/sleep-config.js';
import type { DockerModelConfig } from '../config/types.js';

export const LABEL_MANAGED = 'vllm-gateway.managed';
export const LABEL_PREFIX = 'vllm-gateway.prefix';
export const LABEL_MODEL = 'vllm-gateway.model';
export const LABEL_CONFIG_HASH = 'vllm-gateway.config-hash';
/** Extension (informational): the GPU indices the container was given, e.g. "0,1". */
export const LABEL_GPUS = 'vllm-gateway.gpus';
/** The host (docs/hosts.md) whose engine runs the container; absent on this machine's (`local`). */
export const LABEL_HOST = 'vllm-gateway.host';

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * `<prefix>-<id>`: the id lower-cased, every run of characters outside [a-z0-9] made one `-`;
 * when that changed the id, `-` plus the first 6 hex digits of the id's SHA-256 is appended so
 * that distinct ids ("Qwen/Qwen2.5-7B" and "qwen-qwen2-5-7b") never share a name.
 */
export function containerName(prefix: string, id: string): string {
  const slug = id.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const suffix = slug === id ? '' : `-${sha256Hex(id).slice(0, 6)}`;
  return `${prefix}-${slug}${suffix}`;
}

/** JSON with object keys sorted, so that equal configs hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface ConfigHashInput {
  image: string;
  model: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  vramGiB: number;
  gpus: 'auto' | readonly number[];
  gpuMemoryUtilization: number;
}

/**
 * Hash of a model's effective config (docs/docker.md): image, model, args, env, vramGiB, gpus (as
 * configured) and the computed utilization. 16 hex digits of SHA-256 over canonical JSON.
 */
export function configHash(input: ConfigHashInput): string {
  return sha256Hex(
    canonicalJson({
      v: 1,
      image: input.image,
      model: input.model,
      args: [...input.args],
      env: { ...input.env },
      vramGiB: input.vramGiB,
      gpus: input.gpus === 'auto' ? 'auto' : [...input.gpus],
      gpuMemoryUtilization: input.gpuMemoryUtilization,
    }),
  ).slice(0, 16);
}

/** The hash of what the container runs: the args and env as the spec builds them (sleep's flag and env included). */
/**
 * The container's identity: what it runs, and where. `host` (a remote host's name) is part of it,
 * so a container found on one host is never taken for another host's; on this machine it is left
 * out, so containers started before hosts existed keep their hash.
 */
export function modelConfigHash(model: DockerModelConfig, gpuMemoryUtilization: number, host?: string): string {
  return configHash({
    ...(host && host !== 'local' ? { host } : {}),
    image: model.image,
    model: model.model,
    args: effectiveArgs(model),
    env: effectiveEnv(model),
    vramGiB: model.vramGiB,
    gpus: model.gpus,
    gpuMemoryUtilization,
  });
}

export function containerLabels(opts: {
  prefix: string;
  modelId: string;
  configHash: string;
  gpuIndices?: readonly number[];
  host?: string;
}): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL_MANAGED]: 'true',
    [LABEL_PREFIX]: opts.prefix,
    [LABEL_MODEL]: opts.modelId,
    [LABEL_CONFIG_HASH]: opts.configHash,
  };
  if (opts.gpuIndices) labels[LABEL_GPUS] = opts.gpuIndices.join(',');
  if (opts.host && opts.host !== 'local') labels[LABEL_HOST] = opts.host;
  return labels;
}
