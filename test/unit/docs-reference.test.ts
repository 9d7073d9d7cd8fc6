// The reference in docs/ stays complete: every config key of the schema is in
// docs/configuration.md (under its section), every error code of the catalogue is in
// docs/http-api.md's error table. A key or code added without its documentation fails here.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema, dockerModelSchema, hostSchema, processModelSchema, remoteModelSchema } from '../../gateway/config/schema.js';
import { ERROR_CATALOGUE } from '../../gateway/errors.js';

const docs = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/** The object schema under preprocess / default / optional wrappers, or null for a leaf. */
function objectOf(schema: z.ZodType): z.ZodObject | null {
  let s: z.ZodType = schema;
  for (let i = 0; i < 10; i++) {
    if (s instanceof z.ZodObject) return s;
    const def = (s as unknown as { def: { type: string; out?: z.ZodType; innerType?: z.ZodType } }).def;
    if (def.type === 'pipe' && def.out) s = def.out;
    else if ((def.type === 'default' || def.type === 'optional' || def.type === 'nullable') && def.innerType) s = def.innerType;
    else return null;
  }
  return null;
}

/** Dotted key paths of an object schema: `level`, `sleep.level`, … (records and arrays are leaves). */
function keyPaths(schema: z.ZodObject, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, child] of Object.entries(schema.shape)) {
    const inner = objectOf(child as z.ZodType);
    if (inner) out.push(...keyPaths(inner, `${prefix}${key}.`));
    else out.push(`${prefix}${key}`);
  }
  return out;
}

/** The text of `## \`name\`` up to the next `## ` heading. */
function section(text: string, name: string): string {
  const start = text.indexOf(`## \`${name}\``);
  if (start < 0) return '';
  const next = text.indexOf('\n## ', start + 1);
  return next < 0 ? text.slice(start) : text.slice(start, next);
}

describe('docs/configuration.md', () => {
  const text = docs('configuration.md');

  it('documents every key of every section under that section', () => {
    const missing: string[] = [];
    for (const [name, schema] of Object.entries(configSchema.shape)) {
      if (name === 'models' || name === 'defaults') continue; // the model keys, below
      const body = section(text, name);
      if (!body) {
        missing.push(`section ${name}`);
        continue;
      }
      // `hosts` is a mapping of names to hosts: its keys are those of one host.
      const shape = name === 'hosts' ? hostSchema : objectOf(schema as z.ZodType)!;
      for (const key of keyPaths(shape)) if (!body.includes(`\`${key}\``)) missing.push(`${name}.${key}`);
    }
    expect(missing, 'add these to docs/configuration.md').toEqual([]);
  });

  it('documents every model key of every runtime', () => {
    const body = section(text, 'models');
    const keys = new Set([dockerModelSchema, processModelSchema, remoteModelSchema].flatMap((s) => keyPaths(s)));
    const missing = [...keys].filter((key) => !body.includes(`\`${key}\``));
    expect(missing, 'add these to the models section of docs/configuration.md').toEqual([]);
  });

  it('documents every environment override', async () => {
    const { ENV_OVERRIDES } = await import('../../gateway/config/env-overrides.js');
    const missing = ENV_OVERRIDES.filter((o) => !text.includes(`| \`${o.name}\` | \`${o.section}.${o.key}\` |`)).map((o) => o.name);
    expect(missing, 'add these to the environment table of docs/configuration.md').toEqual([]);
  });
});

describe('docs/http-api.md', () => {
  it('lists every error code of the catalogue with its status', () => {
    const text = docs('http-api.md');
    const missing = Object.entries(ERROR_CATALOGUE)
      .filter(([code, entry]) => code !== 'client_gone' && !text.includes(`| \`${code}\` | ${entry.status} | \`${entry.type}\` |`))
      .map(([code]) => code);
    expect(missing, 'add these rows to the error table of docs/http-api.md').toEqual([]);
    expect(text).toContain('`client_gone`');
  });
});
