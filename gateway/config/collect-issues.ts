// Zod's issues → `{path, message}` with dotted key paths and messages a user can act on.

import type { z } from 'zod';
import type { PathIssue } from './env-substitution.js';

type Key = PropertyKey;

export function dotted(path: readonly Key[]): string {
  return path.map(String).join('.');
}

/** Maps every zod issue of `schema.safeParse(…)` to PathIssues under `prefix`. */
export function collectIssues(issues: readonly z.core.$ZodIssue[], schema: z.ZodType, prefix: readonly Key[] = []): PathIssue[] {
  const out: PathIssue[] = [];
  for (const issue of issues) {
    const at = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        const hint = closest(key, known);
        out.push({ path: dotted([...at, key]), message: `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}` });
      }
    } else {
      out.push({
        path: dotted(at),
        message: messageOf(
          issue,
          at.some((k) => SECRET.has(String(k))),
        ),
      });
    }
  }
  return out;
}

/** Values under these keys are never echoed in a message (they may be credentials). */
const SECRET = new Set(['apiKeys', 'apiKey', 'adminToken', 'env']);

/** Zod's wording, made shorter where it is generic; messages given in schema.ts are kept. */
function messageOf(issue: z.core.$ZodIssue, secret: boolean): string {
  const input = 'input' in issue ? issue.input : undefined;
  const got = input === undefined ? '' : `, got ${secret ? typeOf(input) : describe(input)}`;
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `required (${issue.expected})` : `expected ${issue.expected}${got}`;
    case 'invalid_value':
      return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}${got}`;
    case 'invalid_key':
      return `invalid key: ${issue.issues[0]?.message ?? issue.message}`;
    case 'too_small':
    case 'too_big': {
      if (!issue.message.startsWith('Too ')) return issue.message;
      const small = issue.code === 'too_small';
      const limit = small ? issue.minimum : issue.maximum;
      if (issue.origin === 'number') return `must be ${small ? '>' : '<'}${issue.inclusive ? '=' : ''} ${limit}${got}`;
      if (issue.origin === 'array' && small && Number(limit) === 1) return 'must not be empty';
      return `must have ${small ? 'at least' : 'at most'} ${limit} ${issue.origin === 'string' ? 'characters' : 'items'}`;
    }
    default:
      return issue.message;
  }
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'a mapping' : typeof value;
}

function describe(value: unknown): string {
  if (value === null || typeof value === 'object') return typeOf(value);
  const shown = JSON.stringify(value) ?? String(value);
  return `${typeof value} ${shown.length > 40 ? `${shown.slice(0, 37)}...` : shown}`;
}

/** The keys a strict object inside `schema` accepts at `path` (for "did you mean"). */
export function knownKeysAt(schema: z.ZodType, path: readonly Key[]): string[] {
  let node: z.core.$ZodType | undefined = schema;
  for (const step of [...path, null]) {
    // Unwrap optional/default/preprocess layers until a container.
    for (;;) {
      const def: Record<string, unknown> & { type: string } = node!._zod.def as never;
      if (def.type === 'optional' || def.type === 'default' || def.type === 'prefault' || def.type === 'nullable')
        node = def.innerType as z.core.$ZodType;
      else if (def.type === 'pipe') node = def.out as z.core.$ZodType;
      else break;
    }
    const def: Record<string, unknown> & { type: string } = node!._zod.def as never;
    if (step === null) return def.type === 'object' ? Object.keys(def.shape as object) : [];
    if (def.type === 'object') node = (def.shape as Record<string, z.core.$ZodType>)[String(step)];
    else if (def.type === 'array') node = def.element as z.core.$ZodType;
    else if (def.type === 'record') node = def.valueType as z.core.$ZodType;
    else return [];
    if (!node) return [];
  }
  return [];
}

/** A known key within a small edit distance (typos) or differing only in case. */
export function closest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === key.toLowerCase() ? 0 : distance(key, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}
