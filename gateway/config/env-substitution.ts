// `${NAME}` substitution on parsed YAML values (docs/configuration.md), never on raw text, so a value can't
// inject YAML. `${NAME:-default}` uses `default` when NAME is unset or empty; `$${` is a literal `${`.
//
// Inside a model's `command`, `args` and `env` (also under `defaults:`), the gateway's own
// placeholders (${PORT}, ${MODEL_ID}, ${GPU_MEMORY_UTILIZATION}, ${CUDA_VISIBLE_DEVICES}) are left
// for the runtime, which fills them with substituteModelPlaceholders(). There `$${` escapes are kept
// as well (and any `${` brought in by an environment value is escaped), so that the runtime's pass
// is the one that turns `$${` into `${`.

export const MODEL_PLACEHOLDERS = ['PORT', 'MODEL_ID', 'GPU_MEMORY_UTILIZATION', 'CUDA_VISIBLE_DEVICES'] as const;
export type ModelPlaceholder = (typeof MODEL_PLACEHOLDERS)[number];
export type ModelPlaceholderValues = Record<ModelPlaceholder, string>;

export interface PathIssue {
  path: string;
  message: string;
}

const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const BODY = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

type Resolver = (name: string, fallback: string | undefined, whole: string) => string;

/** Scans `s` once, left to right; `$${` → `escape`, `${…}` → resolve(), malformed → onMalformed. */
function scan(s: string, escape: string, resolve: Resolver, onMalformed: (ref: string) => void): string {
  return s.replace(REFERENCE, (whole: string, body: string | undefined) => {
    if (whole === '$${') return escape;
    const m = body === undefined ? null : BODY.exec(body);
    // `${A:-${B}}`: the scan stops at the first `}`, so a nested reference would silently become
    // a literal "${B}". Nesting is not supported: it is reported as malformed instead.
    if (!m || m[2]?.includes('${')) {
      onMalformed(whole);
      return whole;
    }
    return resolve(m[1], m[2], whole);
  });
}

function isPlaceholder(name: string): name is ModelPlaceholder {
  return (MODEL_PLACEHOLDERS as readonly string[]).includes(name);
}

/** For the runtimes: fills the four gateway placeholders and turns `$${` into `${`. */
export function substituteModelPlaceholders(s: string, values: ModelPlaceholderValues): string {
  return scan(
    s,
    '${',
    (name, _fallback, whole) => (isPlaceholder(name) ? values[name] : whole),
    () => {},
  );
}

/** Paths whose strings keep the model placeholders: models.<id>.{command,args,env}…, defaults.{command,args,env}… */
function isModelTemplatePath(path: readonly string[]): boolean {
  const field = path[0] === 'models' ? path[2] : path[0] === 'defaults' ? path[1] : undefined;
  return field === 'command' || field === 'args' || field === 'env';
}

function substituteString(s: string, path: readonly string[], env: NodeJS.ProcessEnv, issues: PathIssue[]): string {
  const template = isModelTemplatePath(path);
  const where = path.join('.');
  return scan(
    s,
    template ? '$${' : '${',
    (name, fallback, whole) => {
      if (template && isPlaceholder(name)) return whole;
      const value = env[name];
      let result: string;
      if (fallback !== undefined) result = value ? value : fallback;
      else if (value !== undefined) result = value;
      else {
        issues.push({
          path: where,
          message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
        });
        return whole;
      }
      return template ? result.replaceAll('${', () => '$${') : result;
    },
    (ref) =>
      issues.push({
        path: where,
        message: ref.includes('${', 2)
          ? `nested reference in "${ref}…": a default cannot contain another \${…} (nesting is not supported)`
          : `malformed reference "${ref}": write \${NAME}, \${NAME:-default}, or $\${ for a literal \${`,
      }),
  );
}

/** Returns a copy of `value` with every string substituted; problems go to `issues`. */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, issues: PathIssue[], path: readonly string[] = []): unknown {
  if (typeof value === 'string') return substituteString(value, path, env, issues);
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, issues, [...path, String(i)]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, issues, [...path, k])]));
  }
  return value;
}
