// How configured models look to Ollama's clients: /api/tags, /api/ps and /api/show entries (pure).
// vLLM serves Hugging Face checkpoints, not GGUF files: the `details` Ollama reads from a GGUF
// header are left empty, and what the config says (flags in `args`/`command`) fills the rest.

import { createHash } from 'node:crypto';
import type { ModelConfig } from '../config/types.js';

type Json = Record<string, unknown>;

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** The version of Ollama's API these routes follow (think/thinking, tool_name: 0.9). */
export const OLLAMA_API_VERSION = '0.9.0';

/** "id:latest" is the model "id" (Ollama's default tag); aliases resolve as on the OpenAI routes. */
export function namesToTry(name: string): string[] {
  return name.endsWith(':latest') ? [name, name.slice(0, -':latest'.length)] : [name];
}

/** A stable digest of the model's config: it changes when the config of the model changes. */
export function modelDigest(c: ModelConfig): string {
  // What the model is, not its secrets (env, apiKey).
  const what =
    c.runtime === 'remote'
      ? { id: c.id, runtime: c.runtime, url: c.url }
      : {
          id: c.id,
          runtime: c.runtime,
          model: c.model ?? null,
          command: c.runtime === 'process' ? c.command : null,
          args: c.args,
          vramGiB: c.vramGiB,
        };
  return createHash('sha256').update(JSON.stringify(what)).digest('hex');
}

function flags(c: ModelConfig): string[] {
  if (c.runtime === 'docker') return [...c.args];
  if (c.runtime === 'process') return [...c.command, ...c.args];
  return [];
}

function flagValue(list: string[], name: string): string | null {
  for (let i = list.length - 1; i >= 0; i--) {
    const a = list[i];
    if (a === name && i + 1 < list.length) return list[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return null;
}

/** What the model can do, as far as its server flags tell (Ollama clients enable features by these). */
export function capabilities(c: ModelConfig): string[] {
  const f = flags(c);
  const pooling = ['embed', 'embedding', 'pooling'].includes(
    flagValue(f, '--task') ?? flagValue(f, '--runner') ?? flagValue(f, '--convert') ?? '',
  );
  if (pooling) return ['embedding'];
  const caps = ['completion'];
  if (f.includes('--enable-auto-tool-choice')) caps.push('tools');
  if (flagValue(f, '--reasoning-parser') !== null) caps.push('thinking');
  if (flagValue(f, '--limit-mm-per-prompt') !== null) caps.push('vision');
  return caps;
}

export function details(c: ModelConfig): Json {
  return {
    parent_model: '',
    format: c.runtime === 'remote' ? '' : 'safetensors',
    family: '',
    families: [],
    parameter_size: '',
    quantization_level: '',
  };
}

function sizeBytes(c: ModelConfig): number {
  return c.runtime === 'remote' ? 0 : Math.round(c.vramGiB * GiB);
}

/** One /api/tags entry. */
export function tagEntry(c: ModelConfig, modifiedAt: Date): Json {
  return {
    name: c.id,
    model: c.id,
    modified_at: modifiedAt.toISOString(),
    size: sizeBytes(c),
    digest: modelDigest(c),
    details: details(c),
  };
}

/** One /api/ps entry: `vramUsedMiB` measured where known, else the budget. */
export function psEntry(c: ModelConfig, vramUsedMiB: number | null, expiresAt: Date): Json {
  const size = sizeBytes(c);
  return {
    name: c.id,
    model: c.id,
    size,
    digest: modelDigest(c),
    details: details(c),
    expires_at: expiresAt.toISOString(),
    size_vram: vramUsedMiB !== null ? Math.round(vramUsedMiB * MiB) : size,
    ...contextLength(c),
  };
}

/** The server's context length, from its --max-model-len flag; null when not set there. */
export function maxModelLen(c: ModelConfig): number | null {
  const v = Number(flagValue(flags(c), '--max-model-len'));
  return Number.isInteger(v) && v > 0 ? v : null;
}

function contextLength(c: ModelConfig): Json {
  const v = maxModelLen(c);
  return v !== null ? { context_length: v } : {};
}

/** POST /api/show. */
export function showEntry(c: ModelConfig, modifiedAt: Date): Json {
  const ctx = contextLength(c).context_length;
  const modelInfo: Json = { 'general.architecture': 'vllm' };
  if (ctx !== undefined) modelInfo['vllm.context_length'] = ctx;
  const source = c.runtime === 'remote' ? c.url : c.model;
  return {
    license: '',
    modelfile: `# served by vLLM Gateway (${c.runtime})\nFROM ${source ?? c.id}\n`,
    parameters: '',
    template: '',
    details: details(c),
    model_info: modelInfo,
    capabilities: capabilities(c),
    modified_at: modifiedAt.toISOString(),
  };
}
