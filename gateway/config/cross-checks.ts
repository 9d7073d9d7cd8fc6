// Rules that involve more than one key: exposure without API keys, the static GPU list, a key
// listed twice with a class, alias collisions between models.

import { BlockList, isIP } from 'node:net';
import type { PathIssue } from './env-substitution.js';
import { configSchema, LOCAL_HOST } from './schema.js';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const family = isIP(h);
  return family !== 0 && loopback.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Checks listen/auth/gpu together. Each section is parsed on its own, so these rules are checked
 * even when another part of the file is wrong.
 */
export function checkSections(tree: Record<string, unknown>): PathIssue[] {
  const issues: PathIssue[] = [];
  const gpu = configSchema.shape.gpu.safeParse(tree.gpu);
  // Read from the raw tree, so a typo elsewhere in `listen` or `auth` does not hide this one.
  const rawListen = (tree.listen ?? {}) as Record<string, unknown>;
  const rawAuth = (tree.auth ?? {}) as Record<string, unknown>;
  const host = typeof rawListen.host === 'string' ? rawListen.host : '127.0.0.1';
  const hasKeys = Array.isArray(rawAuth.apiKeys) && rawAuth.apiKeys.length > 0;
  if (!isLoopbackHost(host) && !hasKeys) {
    issues.push({
      path: 'listen.host',
      message:
        `"${host}" is not a loopback address, so other machines could use the gateway (and its GPUs) ` +
        'without any key: set auth.apiKeys (non-empty), or listen on 127.0.0.1',
    });
  }
  if (Array.isArray(rawAuth.apiKeys)) issues.push(...checkKeyClasses(rawAuth.apiKeys));
  const listen = configSchema.shape.listen.safeParse(tree.listen);
  if (listen.success && listen.data.ollamaPort !== null && listen.data.ollamaPort !== 0 && listen.data.ollamaPort === listen.data.port) {
    issues.push({
      path: 'listen.ollamaPort',
      message: `must differ from listen.port (${listen.data.port}): the Ollama routes are served on the main port anyway`,
    });
  }
  if (gpu.success && gpu.data.probe === 'static' && gpu.data.static.length === 0) {
    issues.push({
      path: 'gpu.static',
      message: 'gpu.probe is "static": list at least one GPU, e.g. [{ name: "Simulated GPU", totalGiB: 24 }]',
    });
  }
  return issues;
}

/**
 * A key given a class (`{key, priority}`) is listed once: listed again, plain or with another class,
 * one of the entries would win silently. Plain keys may repeat (harmless). Keys are not echoed.
 */
function checkKeyClasses(entries: unknown[]): PathIssue[] {
  const issues: PathIssue[] = [];
  const first = new Map<string, { at: number; classed: boolean }>();
  entries.forEach((e, i) => {
    const classed = typeof e === 'object' && e !== null && !Array.isArray(e);
    const key = classed ? (e as { key?: unknown }).key : e;
    if (typeof key !== 'string' || key === '') return; // the schema reports it
    const seen = first.get(key);
    if (!seen) first.set(key, { at: i, classed });
    else if (classed || seen.classed) {
      issues.push({
        path: `auth.apiKeys.${i}`,
        message: `the same key as auth.apiKeys.${seen.at}, one of them with a class: list each key once, as { key, priority } to give it one`,
      });
    }
  });
  return issues;
}

/**
 * An alias may not be any model's id, nor another alias. Read from the raw `models:` mapping, so a
 * collision is reported even when either model has errors of its own (every error at once).
 */
export function checkAliases(rawModels: Record<string, unknown>): PathIssue[] {
  const issues: PathIssue[] = [];
  const ids = new Set(Object.keys(rawModels));
  const aliasOwner = new Map<string, string>();
  for (const [id, raw] of Object.entries(rawModels)) {
    const aliases = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>).aliases : undefined;
    if (!Array.isArray(aliases)) continue;
    aliases.forEach((alias: unknown, i) => {
      if (typeof alias !== 'string') return; // the schema reports it
      const path = `models.${id}.aliases.${i}`;
      if (alias === id) issues.push({ path, message: `alias "${alias}" repeats the model's own id` });
      else if (ids.has(alias)) issues.push({ path, message: `alias "${alias}" is the id of another model` });
      else if (aliasOwner.has(alias)) {
        const owner = aliasOwner.get(alias);
        issues.push({ path, message: `alias "${alias}" is already ${owner === id ? 'listed' : `an alias of model "${owner}"`}` });
      } else aliasOwner.set(alias, id);
    });
  }
  return issues;
}

/**
 * A docker model's `hosts` must name configured hosts (or `local`); a process model runs on this
 * machine only. Read from the raw tree, so a mistake in `hosts:` itself does not hide these.
 */
export function checkModelHosts(tree: Record<string, unknown>): PathIssue[] {
  const issues: PathIssue[] = [];
  const hosts = tree.hosts !== null && typeof tree.hosts === 'object' ? Object.keys(tree.hosts) : [];
  const known = new Set([LOCAL_HOST, ...hosts]);
  const models = tree.models !== null && typeof tree.models === 'object' ? (tree.models as Record<string, unknown>) : {};
  const defaults = tree.defaults !== null && typeof tree.defaults === 'object' ? (tree.defaults as Record<string, unknown>) : {};
  const check = (list: unknown, at: string) => {
    if (!Array.isArray(list)) return;
    list.forEach((name: unknown, i) => {
      if (typeof name === 'string' && !known.has(name)) {
        issues.push({
          path: `${at}.hosts.${i}`,
          message: `no host named "${name}": the hosts are ${[...known].map((h) => `"${h}"`).join(', ')} (add it under \`hosts:\`)`,
        });
      }
    });
  };
  check(defaults.hosts, 'defaults');
  for (const [id, raw] of Object.entries(models)) {
    if (raw === null || typeof raw !== 'object') continue;
    const m = raw as Record<string, unknown>;
    check(m.hosts, `models.${id}`);
  }
  return issues;
}
