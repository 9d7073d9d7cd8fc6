// Config is data, validated once (docs/architecture.md rule 5): YAML → ${VAR} substitution → env overrides
// → schema + per-model checks + cross-checks, every issue collected → a deep-frozen GatewayConfig.

import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { resolve } from 'node:path';
import YAML from 'yaml';
import { collectIssues } from './collect-issues.js';
import { checkAliases, checkModelHosts, checkSections } from './cross-checks.js';
import { deepFreeze } from './deep-freeze.js';
import { applyEnvOverrides } from './env-overrides.js';
import { substituteEnv, type PathIssue } from './env-substitution.js';
import { resolveModels } from './resolve-models.js';
import { configSchema, type ParsedConfig } from './schema.js';
import type { ConfigIssue, GatewayConfig, HostConfig } from './types.js';
import { parseHostUrl } from '../hosts/host-url.js';

export interface ConfigResult {
  /** Null whenever there is at least one issue. */
  config: GatewayConfig | null;
  issues: ConfigIssue[];
}

type Mapping = Record<string, unknown>;

const MAX_CONFIG_CHARS = 1024 * 1024;
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
  if (text.length > MAX_CONFIG_CHARS) {
    // Refused at once: the YAML parser takes seconds per megabyte, and no gateway needs that much.
    issues.push({
      path: '',
      message: `the config is larger than 1 MiB (${text.length} characters): a config of even hundreds of models is far smaller`,
    });
    return result(null);
  }

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
  checks.push(
    ...models.issues,
    ...checkSections(tree),
    ...checkAliases(isMapping(tree.models) ? tree.models : {}),
    ...checkModelHosts(tree),
  );

  // A value whose substitution failed is reported once, not again as "expected number, got …".
  const failed = substitutionIssues.map((i) => i.path);
  issues.push(...checks.filter((i) => !failed.some((p) => i.path === p || i.path.startsWith(`${p}.`))));
  if (!parsed.success || issues.length > 0) return result(null);

  const { listen, auth, retry, timeouts, shutdown, scheduling, streaming, gpu, docker, hosts } = parsed.data;
  const config: GatewayConfig = {
    sourcePath: file.startsWith('<') ? null : resolve(file),
    listen,
    auth: {
      ...auth,
      apiKeys: auth.apiKeys.map((k) => (typeof k === 'string' ? k : k.key)),
      keyPriorities: auth.apiKeys.filter((k) => typeof k !== 'string'),
    },
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
    hosts: Object.entries(hosts).map(([name, h]) => resolveHost(name, h, env)),
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
  // uniqueKeys is checked below, in one pass: the yaml library's own check compares every key of a
  // mapping with every other (17k models took 9 s, 34k took 30 s).
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: false, prettyErrors: true, merge: true, lineCounter });
  for (const error of doc.errors) {
    const pos = error.linePos?.[0];
    const raw = error.message.split(/ at line \d+, column \d+/)[0];
    // The parser recurses per level: a stack overflow means nesting no config has.
    const what = /Maximum call stack size exceeded/.test(raw) ? 'nested too deeply (lists or mappings thousands of levels deep)' : raw;
    issues.push({ path: '', message: `YAML syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${what}` });
  }
  if (doc.errors.length > 0) return null;
  if (doc.contents === null) {
    issues.push({ path: '', message: 'the file is empty: a config needs at least `models: {}`' });
    return null;
  }
  if (duplicateKeys(doc, lineCounter, issues)) return null;
  let value: unknown;
  try {
    // maxAliasCount bounds "billion laughs" expansion; a recursive alias (`a: &a [*a]`) becomes a
    // cycle, found below before anything walks the tree.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    issues.push({ path: '', message: `YAML error: ${(err as Error).message}` });
    return null;
  }
  const cycle = cyclePath(value);
  if (cycle !== null) {
    issues.push({
      path: cycle,
      message: 'a YAML alias refers to a node that contains it (a recursive alias): the config would be infinite',
    });
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

/** Reports every key that repeats in its mapping (as the YAML spec requires); true if any. */
function duplicateKeys(doc: YAML.Document, lineCounter: YAML.LineCounter, issues: PathIssue[]): boolean {
  let found = false;
  YAML.visit(doc, {
    Map(_key, map, ancestors) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = pair.key;
        if (!YAML.isScalar(key) || key.value === '<<') continue;
        const name = String(key.value);
        if (!seen.has(name)) {
          seen.add(name);
          continue;
        }
        found = true;
        const pos = key.range ? lineCounter.linePos(key.range[0]) : null;
        const path = [...ancestors, pair]
          .filter((n): n is YAML.Pair => YAML.isPair(n) && YAML.isScalar(n.key))
          .map((p) => String((p.key as YAML.Scalar).value))
          .join('.');
        issues.push({ path, message: `YAML syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: Map keys must be unique` });
      }
    },
  });
  return found;
}

/** The dotted path of the first value that contains itself, or null when the tree is finite. */
function cyclePath(value: unknown): string | null {
  const open = new Set<object>();
  const walk = (v: unknown, path: string[]): string | null => {
    if (v === null || typeof v !== 'object') return null;
    if (open.has(v)) return path.join('.');
    open.add(v);
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
    for (const [k, child] of entries) {
      const r = walk(child, [...path, k]);
      if (r !== null) return r;
    }
    open.delete(v);
    return null;
  };
  return walk(value, []);
}

function resolveHost(name: string, h: ParsedConfig['hosts'][string], env: NodeJS.ProcessEnv): HostConfig {
  const target = parseHostUrl(h.docker, () => env.USER || userInfo().username);
  if ('error' in target) throw new Error(`host ${name}: ${target.error}`); // the schema refused it already
  const path = (p: string | null) => (p === null ? null : expandHome(p, env));
  return {
    name,
    docker: h.docker,
    target,
    tls: h.tls ? { ca: expandHome(h.tls.ca, env), cert: expandHome(h.tls.cert, env), key: expandHome(h.tls.key, env) } : null,
    sshKeyPath: path(h.sshKeyPath),
    knownHostsPath: path(h.knownHostsPath),
    gpu: h.gpu,
  };
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
