// Config is data, validated once (docs/architecture.md rule 5): YAML → ${VAR} substitution → env overrides
// → schema + per-model checks + cross-checks, every issue collected → a deep-frozen GatewayConfig.

import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import YAML from 'yaml';
import { collectIssues } from './collect-issues.js';
import { checkAliases, checkSections } from './cross-checks.js';
import { deepFreeze } from './deep-freeze.js';
import { applyEnvOverrides } from './env-overrides.js';
import { substituteEnv, type PathIssue } from './env-substitution.js';
import { resolveModels } from './resolve-models.js';
import { configSchema } from './schema.js';
import type { ConfigIssue, GatewayConfig } from './types.js';

export interface ConfigResult {
  /** Null whenever there is at least one issue. */
  config: GatewayConfig | null;
  issues: ConfigIssue[];
}

type Mapping = Record<string, unknown>;
const isMapping = (v: unknown): v is Mapping => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Parses and validates a config text. `file` names it in issues and, made absolute, becomes
 * `sourcePath`; a name in angle brackets (e.g. "<inline>") is not a path: `sourcePath` is null.
 */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv): ConfigResult {
  const issues: PathIssue[] = [];
  const result = (config: GatewayConfig | null): ConfigResult => ({
    config: issues.length === 0 ? config : null,
    issues: dedupe(issues).map((issue) => ({ file, ...issue })),
  });

  const raw = parseYaml(text, issues);
  if (!raw) return result(null);

  const substitutionIssues: PathIssue[] = [];
  const tree = substituteEnv(raw, env, substitutionIssues) as Mapping;
  issues.push(...substitutionIssues, ...applyEnvOverrides(tree, env));

  const checks: PathIssue[] = [];
  const parsed = configSchema.safeParse(tree, { reportInput: true });
  if (!parsed.success) checks.push(...collectIssues(parsed.error.issues, configSchema));
  // Models are checked even when another section is wrong, so that every issue shows at once.
  const limits = parsed.success ? parsed.data.limits : configSchema.shape.limits.parse({});
  const models = resolveModels(isMapping(tree.models) ? tree.models : {}, tree.defaults, limits);
  checks.push(...models.issues, ...checkSections(tree), ...checkAliases(models.models, modelIds(tree)));

  // A value whose substitution failed is reported once, not again as "expected number, got …".
  const failed = substitutionIssues.map((i) => i.path);
  issues.push(...checks.filter((i) => !failed.some((p) => i.path === p || i.path.startsWith(`${p}.`))));
  if (!parsed.success || issues.length > 0) return result(null);

  const { listen, auth, retry, timeouts, shutdown, scheduling, streaming, gpu, docker } = parsed.data;
  const config: GatewayConfig = {
    sourcePath: file.startsWith('<') ? null : resolve(file),
    listen,
    auth,
    limits,
    retry,
    timeouts,
    shutdown,
    scheduling,
    streaming,
    gpu,
    docker: {
      ...docker,
      dockerHost: env.DOCKER_HOST ? env.DOCKER_HOST : null,
      hfCacheDir: expandHome(docker.hfCacheDir, env),
    },
    models: models.models,
  };
  return result(deepFreeze(config));
}

/** Reads and parses `path`; a missing or unreadable file is an issue, not a throw. */
export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory, not a file' : e.message;
    return { config: null, issues: [{ file: path, path: '', message: `cannot read the config file: ${why}` }] };
  }
  return parseConfigText(text, path, env);
}

function parseYaml(text: string, issues: PathIssue[]): Mapping | null {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true, merge: true });
  for (const error of doc.errors) {
    const pos = error.linePos?.[0];
    const what = error.message.split(/ at line \d+, column \d+/)[0];
    issues.push({ path: '', message: `YAML syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${what}` });
  }
  if (doc.errors.length > 0) return null;
  if (doc.contents === null) {
    issues.push({ path: '', message: 'the file is empty: a config needs at least `models: {}`' });
    return null;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    issues.push({ path: '', message: `YAML error: ${(err as Error).message}` });
    return null;
  }
  if (!isMapping(value)) {
    issues.push({
      path: '',
      message: `the top level must be a mapping of keys (listen:, models:, …), got ${Array.isArray(value) ? 'a list' : typeof value}`,
    });
    return null;
  }
  return value;
}

function expandHome(p: string, env: NodeJS.ProcessEnv): string {
  if (p !== '~' && !p.startsWith('~/')) return p;
  return (env.HOME || homedir()) + p.slice(1);
}

function dedupe(issues: PathIssue[]): PathIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\n${i.message}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
}

/** Every key under `models:`, whether or not that model validated. */
function modelIds(tree: Record<string, unknown>): string[] {
  const models = tree.models;
  return models && typeof models === 'object' && !Array.isArray(models) ? Object.keys(models) : [];
}
