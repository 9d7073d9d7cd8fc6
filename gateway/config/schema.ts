// The config file's schema (docs/configuration.md): strict objects (unknown keys are errors) with the
// contract's defaults. Models are validated one by one by resolve-models.ts against the schema
// of their runtime, after `defaults:` has been merged under them.

import { z } from 'zod';
import { parseHostUrl } from '../hosts/host-url.js';
import { PRIORITIES } from '../scheduler/priority.js';
import type { ApiKeyPriority, DockerModelConfig, GatewayConfig, ProcessModelConfig, RemoteModelConfig } from './types.js';

// ---------------------------------------------------------------- field schemas

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Numbers may arrive as strings from ${VAR} substitution or env overrides. */
const toNumber = (v: unknown) => (typeof v === 'string' && NUMERIC.test(v.trim()) ? Number(v) : v);
const toBoolean = (v: unknown) => (v === 'true' ? true : v === 'false' ? false : v);
/** `args: ["--max-model-len", 8192]` and `env: { VLLM_USE_V1: 1 }` are written that way in the wild. */
const toText = (v: unknown) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v);

const num = (n: z.ZodNumber) => z.preprocess(toNumber, n);

export const positiveInt = num(z.number().int().positive());
export const positiveNumber = num(z.number().positive());
export const nonNegativeNumber = num(z.number().nonnegative());
/**
 * Seconds a Node timer waits for: at most 2^31 − 1 ms (24.8 days). Node turns a longer delay into
 * 1 ms (a queue timeout of 30 days would time every request out at once), so it is refused here.
 */
export const MAX_TIMER_SECONDS = 2_147_483;
const timerMessage = { error: `must be at most ${MAX_TIMER_SECONDS} (24.8 days, the longest a timer waits)` };
export const positiveTimerSeconds = num(z.number().positive().max(MAX_TIMER_SECONDS, timerMessage));
export const nonNegativeTimerSeconds = num(z.number().nonnegative().max(MAX_TIMER_SECONDS, timerMessage));
export const atLeastOne = num(z.number().min(1));
export const atLeastOneInt = num(z.number().int().min(1));
export const port = num(z.number().int().min(0).max(65535));
export const bool = z.preprocess(toBoolean, z.boolean());
export const nonEmpty = z.string().min(1, 'must not be empty');
const text = z.preprocess(toText, z.string());
const nonEmptyText = z.preprocess(toText, nonEmpty);

export const CONTAINER_PREFIX = /^[a-z0-9][a-z0-9_.-]*$/;
export const containerPrefix = z
  .string()
  .regex(CONTAINER_PREFIX, 'must match ^[a-z0-9][a-z0-9_.-]*$ (lower-case letters, digits, "_", ".", "-")');

/** A model id or alias: 1–128 characters, no whitespace or control characters. */
export const modelName = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[^\s\p{Cc}]+$/u, 'must not contain whitespace or control characters');

const gpus = z.union(
  [
    z.literal('auto'),
    z
      .array(z.number().int('GPU indices are integers').nonnegative('GPU indices are ≥ 0'))
      .min(1, 'must list at least one GPU index, or be "auto"')
      .refine(distinct, 'GPU indices must be distinct'),
  ],
  { error: 'must be "auto" or a non-empty list of distinct GPU indices, e.g. [0, 1]' },
);

function distinct(list: number[]): boolean {
  return new Set(list).size === list.length;
}

const httpUrl = z.string().superRefine((s, ctx) => {
  let u: URL | null = null;
  try {
    u = new URL(s);
  } catch {
    // not a URL at all: reported below
  }
  if (u === null || !(u.protocol === 'http:' || u.protocol === 'https:') || u.hostname === '') {
    ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL, e.g. http://127.0.0.1:9000' });
  }
  // Requests go to the URL's origin, which has no user:password part: they would be silently
  // dropped, and the URL is shown in the status document and /api/show.
  if (u !== null && (u.username !== '' || u.password !== '')) {
    ctx.addIssue({
      code: 'custom',
      message: 'must not carry credentials (user:password@): put the upstream\'s key in apiKey (sent as "Authorization: Bearer")',
    });
  }
});

const envMap = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and "_"'), text);

// ---------------------------------------------------------------- hosts

/** The local machine's name among the hosts: its engine is the `docker` section's, its GPUs the `gpu` section's. */
export const LOCAL_HOST = 'local';
export const HOST_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
export const hostName = z
  .string()
  .regex(HOST_NAME, 'host names are 1-63 lower-case letters, digits, "_", ".", "-" (starting with a letter or digit)');

const staticGpus = z.array(z.strictObject({ name: nonEmpty, totalGiB: positiveNumber }));

/** One remote machine's Docker engine (docs/hosts.md). */
export const hostSchema = z
  .strictObject({
    docker: z.string().superRefine((v, ctx) => {
      const t = parseHostUrl(v, () => 'user');
      if ('error' in t) ctx.addIssue({ code: 'custom', message: t.error });
    }),
    tls: z.strictObject({ ca: nonEmpty, cert: nonEmpty, key: nonEmpty }).optional(),
    sshKeyPath: nonEmpty.nullable().default(null),
    knownHostsPath: nonEmpty.nullable().default(null),
    gpu: section({
      probe: z.enum(['nvidia-smi', 'static']).default('nvidia-smi'),
      nvidiaSmiPath: nonEmpty.default('nvidia-smi'),
      static: staticGpus.default([]),
    }),
  })
  .superRefine((h, ctx) => {
    const scheme = /^tcp:/i.test(h.docker.trim()) ? 'tcp' : /^ssh:/i.test(h.docker.trim()) ? 'ssh' : null;
    if (scheme === 'tcp' && !h.tls) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls'],
        message: 'a tcp:// engine needs `tls: { ca, cert, key }` (without TLS, anyone on the network controls that engine): or use ssh://',
      });
    }
    if (scheme === 'ssh' && h.tls) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'only for tcp:// hosts: an ssh:// host is authenticated by ssh' });
    }
    if (scheme === 'tcp') {
      for (const key of ['sshKeyPath', 'knownHostsPath'] as const) {
        if (h[key] !== null) ctx.addIssue({ code: 'custom', path: [key], message: 'only for ssh:// hosts' });
      }
    }
    if (scheme === 'tcp' && h.gpu.probe !== 'static') {
      ctx.addIssue({
        code: 'custom',
        path: ['gpu', 'probe'],
        message: 'a tcp:// host cannot run nvidia-smi (no ssh): set `gpu: { probe: static, static: [...] }`, or use ssh://',
      });
    }
    if (h.gpu.probe === 'static' && h.gpu.static.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['gpu', 'static'],
        message: 'gpu.probe is "static": list the host\'s GPUs, e.g. [{ name: "NVIDIA H100", totalGiB: 80 }]',
      });
    }
  });

export const hostsSchema = z.preprocess(
  (v) => v ?? {},
  z.record(z.string(), hostSchema).superRefine((hosts, ctx) => {
    for (const name of Object.keys(hosts)) {
      if (name === LOCAL_HOST) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `"${LOCAL_HOST}" is this machine (the \`docker\` and \`gpu\` sections): give the remote host another name`,
        });
      } else if (!HOST_NAME.test(name)) {
        ctx.addIssue({ code: 'custom', path: [name], message: `"${name}": ${hostName.safeParse(name).error?.issues[0]?.message}` });
      }
    }
  }),
);

// ---------------------------------------------------------------- models

const common = {
  aliases: z.array(modelName).default([]),
  maxConcurrent: positiveInt.optional(),
  maxQueue: positiveInt.optional(),
  ttlSeconds: nonNegativeNumber.default(1800),
  pinned: bool.default(false),
  preload: bool.default(false),
  healthPath: z.string().startsWith('/', 'must start with "/"').default('/health'),
};

/** vLLM sleep mode as the first eviction tier (docs/configuration.md `sleep`); `sleep:` written empty is all defaults. */
export const sleepSchema = z.preprocess(
  (v) => v ?? {},
  z.strictObject({
    level: z
      .preprocess(
        toNumber,
        z.union([z.literal(0), z.literal(1), z.literal(2)], {
          error: 'must be 0 (off), 1 (weights kept in host RAM) or 2 (weights dropped)',
        }),
      )
      .default(0),
    residualGiB: nonNegativeNumber.default(1),
    hostRamGiB: z
      .union([z.literal('auto'), nonNegativeNumber], { error: 'must be "auto" (= vramGiB) or a number of GiB ≥ 0' })
      .default('auto'),
  }),
);

const local = {
  vramGiB: positiveNumber,
  sleep: sleepSchema,
  gpus: gpus.default('auto'),
  args: z.array(text).default([]),
  env: envMap.default({}),
};

export const dockerModelSchema = z.strictObject({
  runtime: z.literal('docker'),
  image: nonEmpty,
  model: nonEmpty,
  /** Where it may run, in order of preference; absent = every host, `local` first (docs/hosts.md). */
  hosts: z
    .array(hostName)
    .min(1, 'must list at least one host (or leave `hosts` out: every host)')
    .refine((l) => new Set(l).size === l.length, 'host names must be distinct')
    .optional(),
  ...local,
  ...common,
});

export const processModelSchema = z.strictObject({
  runtime: z.literal('process'),
  command: z.array(nonEmptyText).min(1, 'must be a non-empty list: the program, then its arguments'),
  model: nonEmpty.optional(),
  ...local,
  ...common,
});

export const remoteModelSchema = z.strictObject({
  runtime: z.literal('remote'),
  url: httpUrl,
  apiKey: z.string().default(''),
  // Off by default: a remote server may be shared, its figures are not this gateway's traffic.
  scrapeMetrics: bool.default(false),
  ...common,
});

export const RUNTIMES = ['docker', 'process', 'remote'] as const;
export const modelSchemas = {
  docker: dockerModelSchema,
  process: processModelSchema,
  remote: remoteModelSchema,
} as const;

/** `defaults:` may hold any model key; each model takes those that apply to its runtime. */
export const defaultsSchema = z
  .strictObject({
    ...dockerModelSchema.shape,
    ...processModelSchema.shape,
    ...remoteModelSchema.shape,
    runtime: z.enum(RUNTIMES),
  })
  .partial();

// ---------------------------------------------------------------- the file

/** A section that may be absent or written empty (`auth:` alone is YAML null). */
function section<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.preprocess((v) => v ?? {}, z.strictObject(shape));
}

export const configSchema = z.strictObject({
  listen: section({
    host: nonEmpty.default('127.0.0.1'),
    port: port.default(8080),
    /** The Ollama-compatible routes (and every other route) also on this port; null = off. */
    ollamaPort: port.nullable().default(null),
  }),
  auth: section({
    // A plain key, or a key with the class its requests get (docs/scheduling.md "Priority lanes").
    apiKeys: z
      .array(
        z.union([nonEmpty, z.strictObject({ key: nonEmpty, priority: z.enum(PRIORITIES) })], {
          error: 'must be a key (a non-empty string) or { key, priority: "interactive" | "batch" }',
        }),
      )
      .default([]),
    adminToken: nonEmpty.default('auto'),
    allowedHosts: z.array(nonEmpty).default([]),
    allowedOrigins: z.array(nonEmpty).default([]),
  }),
  limits: section({
    maxQueuePerModel: positiveInt.default(200),
    maxConcurrentPerModel: positiveInt.default(50),
    queueTimeoutSeconds: positiveTimerSeconds.default(600),
    maxBodyBytes: positiveInt.default(33554432),
  }),
  retry: section({
    maxAttempts: atLeastOneInt.default(3),
    initialDelaySeconds: nonNegativeTimerSeconds.default(1.0),
    backoff: atLeastOne.default(1.5),
  }),
  timeouts: section({
    connectSeconds: positiveTimerSeconds.default(10),
    firstByteSeconds: positiveTimerSeconds.default(300),
    idleSeconds: positiveTimerSeconds.default(300),
    startSeconds: positiveTimerSeconds.default(900),
  }),
  shutdown: section({
    drainSeconds: nonNegativeTimerSeconds.default(30),
    stopModels: bool.default(true),
  }),
  scheduling: section({
    swapAfterSeconds: nonNegativeTimerSeconds.default(30),
    batchSwapAfterSeconds: nonNegativeTimerSeconds.default(300),
    defaultPriority: z.enum(PRIORITIES).default('interactive'),
    sleepHostRamGiB: z
      .union([z.literal('auto'), nonNegativeNumber], { error: 'must be "auto" (half of the host\'s RAM) or a number of GiB ≥ 0' })
      .default('auto'),
  }),
  streaming: section({
    progressComments: bool.default(false),
  }),
  gpu: section({
    probe: z.enum(['auto', 'nvidia-smi', 'static']).default('auto'),
    nvidiaSmiPath: nonEmpty.default('nvidia-smi'),
    pollSeconds: positiveTimerSeconds.default(1),
    reserveGiB: nonNegativeNumber.default(0.5),
    static: staticGpus.default([]),
  }),
  docker: section({
    socketPath: nonEmpty.default('/var/run/docker.sock'),
    containerPrefix: containerPrefix.default('vllm-gw'),
    pull: z.enum(['never', 'missing', 'always']).default('missing'),
    hfCacheDir: nonEmpty.default('~/.cache/huggingface'),
    gpuRequests: bool.default(true),
  }),
  hosts: hostsSchema,
  // Checked here for unknown keys and types; merged under each model by resolve-models.ts.
  defaults: z.preprocess((v) => v ?? {}, defaultsSchema),
  // Each entry is checked by resolve-models.ts against its runtime's schema.
  models: z.preprocess((v) => v ?? {}, z.record(z.string(), z.unknown())),
});

export type ParsedConfig = z.output<typeof configSchema>;

// ---------------------------------------------------------------- compile-time checks against types.ts

type ModelExtras = { id: string; maxConcurrent: number; maxQueue: number };
type Resolved<S extends z.ZodType> = Omit<z.output<S>, keyof ModelExtras> & ModelExtras;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

const modelShapesMatch: [
  Same<Resolved<typeof dockerModelSchema>, DockerModelConfig>,
  Same<Resolved<typeof processModelSchema>, ProcessModelConfig>,
  Same<Resolved<typeof remoteModelSchema>, RemoteModelConfig>,
  Same<
    Omit<ParsedConfig, 'defaults' | 'models' | 'docker' | 'auth' | 'hosts'> & {
      sourcePath: string | null;
      auth: Omit<ParsedConfig['auth'], 'apiKeys'> & { apiKeys: string[]; keyPriorities: ApiKeyPriority[] };
      hosts: GatewayConfig['hosts'];
      docker: ParsedConfig['docker'] & { dockerHost: string | null };
      models: GatewayConfig['models'];
    },
    GatewayConfig
  >,
] = [true, true, true, true];
void modelShapesMatch;
