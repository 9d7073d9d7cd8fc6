// Each `models.<id>` entry: `defaults:` merged under it (only the keys its runtime has; `env` and
// `sleep` maps merged key by key), checked against its runtime's schema, then limits filled in and
// the rules that tie its keys together checked (sleep needs vLLM's flag; a residue within the budget).

import type { z } from 'zod';
import { collectIssues, dotted } from './collect-issues.js';
import type { PathIssue } from './env-substitution.js';
import { modelName, modelSchemas, RUNTIMES, type ParsedConfig } from './schema.js';
import { hasSleepModeFlag, SLEEP_MODE_FLAG } from './sleep-config.js';
import type { ModelConfig, ProcessModelConfig, RuntimeKind } from './types.js';

type Mapping = Record<string, unknown>;

const isMapping = (v: unknown): v is Mapping => v !== null && typeof v === 'object' && !Array.isArray(v);
const isRuntime = (v: unknown): v is RuntimeKind => (RUNTIMES as readonly unknown[]).includes(v);
const has = (v: unknown, key: string) => isMapping(v) && Object.hasOwn(v, key);
const keysOf = (runtime: RuntimeKind) => Object.keys(modelSchemas[runtime].shape);

export function resolveModels(
  models: Mapping,
  rawDefaults: unknown,
  limits: ParsedConfig['limits'],
): { models: ModelConfig[]; issues: PathIssue[] } {
  const defaults = isMapping(rawDefaults) ? rawDefaults : {};
  const issues: PathIssue[] = [];
  const resolved: ModelConfig[] = [];

  for (const [id, own] of Object.entries(models)) {
    const at = (...rest: PropertyKey[]) => dotted(['models', id, ...rest]);
    const idCheck = modelName.safeParse(id);
    if (!idCheck.success) issues.push({ path: at(), message: `model id "${id}" ${idCheck.error.issues[0].message}` });
    if (!isMapping(own)) {
      issues.push({ path: at(), message: 'must be a mapping with at least `runtime: docker | process | remote`' });
      continue;
    }

    const runtime = own.runtime ?? defaults.runtime;
    if (!isRuntime(runtime)) {
      // An invalid `defaults.runtime` is already reported by the top-level schema.
      if (own.runtime !== undefined || runtime === undefined) {
        issues.push({
          path: at('runtime'),
          message:
            runtime === undefined
              ? 'required: docker | process | remote'
              : `must be docker | process | remote, got ${JSON.stringify(runtime)}`,
        });
      }
      continue;
    }

    const allowed = keysOf(runtime);
    // Null-prototype objects, so that a key named "__proto__" is a key (and reported as unknown).
    const entry: Mapping = Object.create(null);
    for (const [key, value] of Object.entries(own)) {
      const elsewhere = RUNTIMES.filter((r) => r !== runtime && keysOf(r).includes(key));
      if (!allowed.includes(key) && elsewhere.length > 0) {
        issues.push({ path: at(key), message: `not allowed for runtime "${runtime}" (only for ${elsewhere.join(', ')} models)` });
      } else entry[key] = value;
    }
    const merged: Mapping = Object.create(null);
    for (const key of allowed) if (has(defaults, key)) merged[key] = defaults[key];
    Object.assign(merged, entry);
    for (const map of ['env', 'sleep']) {
      // A map written empty (`sleep:` alone is YAML null) takes the defaults' one as it is.
      const own = entry[map] === null ? {} : entry[map];
      if (isMapping(defaults[map]) && isMapping(own) && allowed.includes(map)) merged[map] = { ...defaults[map], ...own };
    }

    // Report a problem with a value taken from `defaults:` at its place there.
    const origin = (path: PropertyKey[]) => {
      const [key, sub] = path.map(String);
      const fromDefaults =
        (key !== undefined && has(defaults, key) && !has(entry, key)) ||
        ((key === 'env' || key === 'sleep') && sub !== undefined && has(defaults[key], sub) && !has(entry[key], sub));
      return fromDefaults ? ['defaults'] : ['models', id];
    };

    const schema: z.ZodType = modelSchemas[runtime];
    const parsed = schema.safeParse(merged, { reportInput: true });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        issues.push(...collectIssues([issue], schema, origin(issue.path)));
      }
      continue;
    }
    const data = parsed.data as Omit<ModelConfig, 'id' | 'maxConcurrent' | 'maxQueue'> & {
      maxConcurrent?: number;
      maxQueue?: number;
    };
    const local = data as Partial<ProcessModelConfig> & Omit<ModelConfig, 'id' | 'maxConcurrent' | 'maxQueue'>;
    if (local.sleep && local.vramGiB !== undefined && local.sleep.level > 0) {
      if (local.sleep.residualGiB >= local.vramGiB) {
        issues.push({
          path: dotted([...origin(['sleep', 'residualGiB']), 'sleep', 'residualGiB']),
          message: `must be less than vramGiB (${local.vramGiB}): a sleeping server holds only a residue of its budget`,
        });
      }
      if (local.runtime === 'process' && !hasSleepModeFlag([...(local.command ?? []), ...(local.args ?? [])])) {
        issues.push({
          path: at('sleep', 'level'),
          message: `sleep.level ${local.sleep.level} needs vLLM's ${SLEEP_MODE_FLAG} in the model's command or args (the gateway adds VLLM_SERVER_DEV_MODE=1 to its env)`,
        });
      }
    }
    resolved.push({
      ...data,
      id,
      maxConcurrent: data.maxConcurrent ?? limits.maxConcurrentPerModel,
      maxQueue: data.maxQueue ?? limits.maxQueuePerModel,
    } as ModelConfig);
  }
  return { models: resolved, issues };
}
