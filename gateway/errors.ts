// One error catalogue (docs/architecture.md rule 4, docs/http-api.md). Every error the gateway answers
// with is a GatewayError carrying its code; one Fastify error handler renders it. Each code's status,
// type and Retry-After are written once (ERROR_CATALOGUE); each error's message template is written
// once too (`errors` below, in the manner of @fastify/error's createError): call sites name the
// error and pass its details, `errors.bodyTooLarge()`, `errors.forbiddenHost(host)`.

export type ErrorType = 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'rate_limit_error' | 'server_error';

interface CatalogueEntry {
  status: number;
  type: ErrorType;
  /** Seconds for a Retry-After header, when the client may usefully try again. */
  retryAfter?: number;
}

export const ERROR_CATALOGUE = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  model_required: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  /** The HTTP layer's own refusals (docs/http-api.md): slow headers or body, huge URI or headers, no media type. */
  request_timeout: { status: 408, type: 'invalid_request_error' },
  uri_too_long: { status: 414, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  expectation_failed: { status: 417, type: 'invalid_request_error' },
  headers_too_large: { status: 431, type: 'invalid_request_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  model_busy: { status: 409, type: 'invalid_request_error' },
  /** Sleep asked of a model whose sleep.level is 0 / that is not ready (docs/http-api.md). */
  sleep_not_enabled: { status: 409, type: 'invalid_request_error' },
  model_not_ready: { status: 409, type: 'invalid_request_error' },
  body_too_large: { status: 413, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  invalid_admin_token: { status: 401, type: 'authentication_error' },
  forbidden_host: { status: 403, type: 'permission_error' },
  forbidden_origin: { status: 403, type: 'permission_error' },
  queue_full: { status: 429, type: 'rate_limit_error', retryAfter: 1 },
  queue_timeout: { status: 503, type: 'server_error', retryAfter: 5 },
  insufficient_vram: { status: 503, type: 'server_error', retryAfter: 10 },
  model_start_failed: { status: 503, type: 'server_error', retryAfter: 10 },
  model_cooling_down: { status: 503, type: 'server_error', retryAfter: 10 },
  model_stopped: { status: 503, type: 'server_error', retryAfter: 1 },
  upstream_unreachable: { status: 502, type: 'server_error' },
  /** The remote host (docs/hosts.md) a model runs on, or must start on, cannot be reached. */
  host_unreachable: { status: 502, type: 'server_error', retryAfter: 5 },
  upstream_error: { status: 502, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error', retryAfter: 5 },
  internal_error: { status: 500, type: 'server_error' },
  /** Ollama routes that manage a model store the gateway does not have (/api/create, /api/push…). */
  not_supported: { status: 501, type: 'invalid_request_error' },
  /** nginx's 499: the client closed the connection; nothing can be sent, nothing is logged as an error. */
  client_gone: { status: 499, type: 'invalid_request_error' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorType;
  retryAfter: number | undefined;
  readonly param: string | null;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; retryAfter?: number; param?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    const entry: CatalogueEntry = ERROR_CATALOGUE[code];
    this.code = code;
    this.status = entry.status;
    this.type = entry.type;
    this.retryAfter = opts.retryAfter ?? entry.retryAfter;
    this.param = opts.param ?? null;
  }

  toBody(): { error: { message: string; type: ErrorType; code: ErrorCode; param: string | null } } {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

/** What a factory takes after the message's own details: the underlying error, a Retry-After of its own. */
export interface ErrorExtras {
  cause?: unknown;
  retryAfter?: number;
}

/** Makes the error; the details fill its message, an optional last argument carries `ErrorExtras`. */
export type ErrorFactory<A extends unknown[]> = (...args: A | [...A, ErrorExtras]) => GatewayError;

/**
 * One named error: its code and its message template (`param`: the request field it is about).
 * The template's parameter count tells its details from a trailing `ErrorExtras`, so templates
 * declare no default or rest parameters.
 */
function define<A extends unknown[]>(code: ErrorCode, message: (...details: A) => string, param?: string): ErrorFactory<A> {
  const arity = message.length;
  return (...args) => {
    const extras = args.length > arity ? (args[arity] as ErrorExtras) : undefined;
    return new GatewayError(code, message(...(args.slice(0, arity) as A)), { cause: extras?.cause, retryAfter: extras?.retryAfter, param });
  };
}

const shown = (text: string, max: number) => text.slice(0, max);

/** Every error the gateway makes, by name (docs/http-api.md lists the codes). */
export const errors = {
  // ---- the request as it arrives (front-door.ts, access.ts, Node's parser, Fastify's router)
  noHost: define('invalid_request', () => 'The request has no Host header'),
  manyHosts: define('invalid_request', () => 'The request has more than one Host header'),
  forbiddenHost: define('forbidden_host', (host: string) => `Host "${host}" is not allowed; add it to auth.allowedHosts`),
  forbiddenTarget: define(
    'forbidden_host',
    (target: string) => `The request target "${shown(target, 80)}" names a host that is not allowed`,
  ),
  forbiddenOrigin: define('forbidden_origin', (origin: string) => `Origin "${origin}" is not allowed; add it to auth.allowedOrigins`),
  adminTokenRequired: define(
    'invalid_admin_token',
    () => 'This route needs "Authorization: Bearer <admin token>" (printed by `serve`, or in the .admin-token file beside the config)',
  ),
  apiKeyRequired: define('invalid_api_key', () => 'Missing or wrong API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"'),
  bodyTooLarge: define('body_too_large', () => 'The request body is larger than limits.maxBodyBytes'),
  bodyLengthMismatch: define('invalid_json', () => 'Request body size did not match Content-Length'),
  /** The request stream failed while its body was read (the stream's own words). */
  bodyUnreadable: define('invalid_request', (why: string) => why),
  expectationFailed: define(
    'expectation_failed',
    (expect: string | undefined) => `Only "Expect: 100-continue" is supported, got "${expect}"`,
  ),
  unsupportedMediaType: define(
    'unsupported_media_type',
    () => 'The Content-Type is not a valid media type; send "Content-Type: application/json"',
  ),
  badUrl: define(
    'invalid_request',
    () => 'The request target is not a valid URL (a bad percent-encoding, or a #fragment in an absolute URL)',
  ),
  pathPartTooLong: define('uri_too_long', () => 'A part of the request path is too long'),
  requestTimeout: define('request_timeout', () => 'The request headers or body did not arrive in time'),
  headersTooLarge: define('headers_too_large', () => 'The request line and headers are larger than 16 KiB'),
  notHttp: define(
    'invalid_request',
    (parserCode: string | undefined) => `The request is not valid HTTP/1.1 (${parserCode ?? 'parse error'})`,
  ),
  connectNotSupported: define('invalid_request', () => 'CONNECT is not supported: the gateway is not a forward proxy'),
  noRoute: define(
    'not_found',
    (method: string, path: string) => `No route ${method} ${path}: the gateway only forwards the OpenAI inference paths`,
  ),
  /** A 4xx the framework raised in its own words. */
  badRequest: define('invalid_request', (why: string) => why),
  internal: define('internal_error', () => 'Internal gateway error'),

  // ---- the request's body and the model it names (body-model.ts, multipart-model.ts, proxy-routes.ts)
  modelRequired: define('model_required', () => 'The request body must name a model: "model" must be a non-empty string', 'model'),
  notJsonObject: define('model_required', () => 'The request body must be a JSON object naming a model', 'model'),
  modelSpanMissing: define('model_required', () => 'The request body must name a model', 'model'),
  invalidJson: define('invalid_json', (why: string) => `The request body is not valid JSON: ${why}`),
  emptyBody: define('invalid_json', () => 'The request body is empty; expected a JSON object naming a model'),
  multipartUnreadable: define('invalid_request', (why: string) => `The multipart form cannot be read: ${why}`, 'model'),
  modelFieldIsFile: define('model_required', () => 'The form field "model" must be a text field, not a file', 'model'),
  modelNotConfigured: define(
    'model_not_found',
    (model: string) => `The model "${model}" is not configured; GET /v1/models lists the models`,
    'model',
  ),
  stoppedBeforeSend: define('model_stopped', (id: string) => `${id} stopped before the request could be sent`),

  // ---- the gateway's own routes (admin-routes.ts, model-actions.ts, ui-route.ts)
  unknownModelId: define('model_not_found', (id: string) => `The model "${shown(id, 80)}" is not configured`),
  logTailOutOfRange: define('invalid_request', (max: number) => `"tail" must be an integer from 1 to ${max}`),
  historySecondsOutOfRange: define(
    'invalid_request',
    (max: number, raw: string) => `seconds must be a number of seconds from 1 to ${max}, not "${shown(raw, 40)}"`,
    'seconds',
  ),
  dashboardNotBuilt: define('not_found', () => 'The dashboard is not built: run `npm run build` (it writes dist/renderer).'),
  noDashboardFile: define('not_found', () => 'No such file in the dashboard.'),
  noDashboardIcon: define('not_found', () => 'The dashboard names no icon.'),
  unknownResponseId: define(
    'not_found',
    (id: string, kept: number) =>
      `No response "${id}" is known: the gateway routes response ids made through it (the last ${kept.toLocaleString('en-US')})`,
    'response_id',
  ),
  responseServerGone: define(
    'not_found',
    (id: string, model: string) =>
      `Response "${id}" was made by a server of ${model} that has stopped since; stored responses lived in its memory`,
    'response_id',
  ),

  // ---- the Ollama routes (ollama/*: Ollama's wording where it has one)
  ollamaModelNotFound: define(
    'model_not_found',
    (name: string) => `model ${JSON.stringify(name)} not found, try pulling it first`,
    'model',
  ),
  ollamaPullNotConfigured: define(
    'model_not_found',
    (name: string, where: string) =>
      `model ${JSON.stringify(name)} is not in the gateway's config, so there is nothing to pull: add it ${where} and restart the gateway`,
    'model',
  ),
  /** A field the Ollama translation cannot read or map, in Ollama's words for that field. */
  ollamaBadRequest: define('invalid_request', (why: string) => why),
  ollamaInvalidJson: define('invalid_json', (why: string) => `invalid JSON in the request body: ${why}`),
  ollamaModelRequired: define('model_required', () => 'model is required', 'model'),
  ollamaNotSupported: define(
    'not_supported',
    (path: string) => `${path} is not supported: the gateway serves the models of its config file (models:); edit it and restart instead`,
  ),

  // ---- the model server, once a request is forwarded (proxy/forward.ts)
  noFirstByte: define('upstream_timeout', (seconds: number) => `The model server sent no response within ${seconds} s`),
  upstreamFailedHandling: define('upstream_error', (what: string) => `The model server failed while handling the request (${what})`),
  upstreamUnreachable: define(
    'upstream_unreachable',
    (tries: string, what: string) => `The model server could not be reached${tries} (${what})`,
  ),
  clientStalled: define('client_gone', (why: string) => why),
  silentMidAnswer: define('upstream_timeout', (seconds: number) => `The model server sent nothing for ${seconds} s mid-answer`),
  upstreamFailedSending: define('upstream_error', (what: string) => `The model server failed while sending its answer (${what})`),

  // ---- admission (scheduler/admission.ts, scheduler.ts)
  badPriorityHeader: define(
    'invalid_request',
    (raw: string) => `X-Priority must be "interactive" or "batch", not "${raw.length > 40 ? `${raw.slice(0, 40)}…` : raw}"`,
    'X-Priority',
  ),
  shuttingDown: define('shutting_down', () => 'The gateway is shutting down'),
  /** The caller passes `{ retryAfter: seconds }`: the client may try once the cool-down is over. */
  coolingDown: define(
    'model_cooling_down',
    (id: string, seconds: number, why: string) => `${id} failed to start and is cooling down for ${seconds} s: ${why}`,
  ),
  queueFull: define('queue_full', (maxQueue: number) => `The queue for this model is full (${maxQueue} waiting); try again shortly.`),
  /** A batch request whose place in a full queue an interactive one took (priority lanes). */
  queueFullDisplaced: define(
    'queue_full',
    (maxQueue: number) =>
      `The queue for this model is full (${maxQueue} waiting): an interactive request took its place; try again shortly.`,
  ),
  queueTimeout: define('queue_timeout', (id: string, seconds: number) => `Waited ${seconds} s for ${id} without getting a slot`),
  clientGoneWaiting: define('client_gone', () => 'The client went away while waiting'),

  // ---- GPU memory (scheduler/memory-line.ts)
  noGpuMemory: define('insufficient_vram', (id: string, why: string) => `Not enough GPU memory for ${id}: ${why}`),
  noGpuMemoryNobodyWaits: define(
    'insufficient_vram',
    (id: string, waitedFor: string | null) =>
      `Not enough GPU memory for ${id}, and no request waits for it any more${waitedFor ? `: ${waitedFor}` : ''}`,
  ),
  /** The wait for GPU memory held by busy models outlasted `limits.queueTimeoutSeconds`. */
  memoryWaitTimedOut: define(
    'queue_timeout',
    (id: string, seconds: number, why: string) => `Waited ${seconds} s for GPU memory for ${id}: ${why}`,
  ),

  // ---- a model stopped, unloaded or put to sleep under its requests (scheduler/*)
  stoppedIdle: define('model_stopped', (id: string) => `${id} stopped for idleness`),
  evicted: define('model_stopped', (id: string) => `${id} was evicted`),
  /** Stopped instead of put to sleep: no host RAM to sleep in. */
  stopped: define('model_stopped', (id: string) => `${id} was stopped`),
  unloaded: define('model_stopped', (id: string) => `${id} was unloaded while this request was waiting or running`),
  busyForUnload: define(
    'model_busy',
    (id: string, inFlight: number, queued: number) =>
      `${id} has ${inFlight} request(s) in flight and ${queued} queued; unload with ?force=true to cut them`,
  ),
  serverDiedServing: define(
    'upstream_error',
    (id: string, reason: string) => `The model server for ${id} ${reason} while serving this request`,
  ),
  noRuntime: define('model_start_failed', (kind: string) => `No ${kind} runtime is available`),
  /** A start that threw something not already a GatewayError (its text; the caller passes it as cause). */
  startThrew: define('model_start_failed', (why: string) => `The model failed to start: ${why}`),
  sleepNotEnabled: define(
    'sleep_not_enabled',
    (id: string) => `${id} has sleep.level 0: set models.${id}.sleep.level to 1 or 2 to use sleep mode`,
  ),
  notReadyToSleep: define(
    'model_not_ready',
    (id: string, state: string, yielding: boolean) =>
      `${id} is ${state}${yielding ? ' (yielding)' : ''}: only a ready model can be put to sleep`,
  ),
  busyForSleep: define(
    'model_busy',
    (id: string, inFlight: number, queued: number) =>
      `${id} has ${inFlight} request(s) in flight and ${queued} queued; it can sleep once they are done`,
  ),
  /** Stopped by something else (an unload, an eviction) while a sleep by hand was under way. */
  stoppedWhileFallingAsleep: define('model_stopped', (id: string) => `${id} was stopped while it was being put to sleep`),
  didNotSleep: define(
    'upstream_error',
    (id: string, why: string | null) => `${id} did not go to sleep${why ? `: ${why}` : ''}; its server was stopped`,
  ),

  // ---- starting a model's server (runtimes/*)
  /** A start that failed for `why` (runtimes/start-failure.ts adds the server's last lines). */
  startFailed: define('model_start_failed', (why: string) => why),
  startStep: define('model_start_failed', (modelId: string, why: string) => `model ${modelId}: ${why}`),
  dockerStepFailed: define(
    'model_start_failed',
    (modelId: string, what: string, detail: string) => `model ${modelId}: ${what} failed: ${detail}`,
  ),
  imageMissing: define(
    'model_start_failed',
    (modelId: string, image: string) =>
      `model ${modelId}: image ${image} is not on this machine and docker.pull is "never": ` +
      `pull it with \`docker pull ${image}\`, or set docker.pull to "missing"`,
  ),
  pullFailed: define(
    'model_start_failed',
    (modelId: string, image: string, detail: string) => `model ${modelId}: pulling image ${image} failed: ${detail}`,
  ),
  pulledImageMissing: define(
    'model_start_failed',
    (modelId: string, image: string) => `model ${modelId}: pulling image ${image} ended but the image is not there`,
  ),
  startAbandoned: define('model_start_failed', (modelId: string, why: string) => `model ${modelId}: start abandoned (${why})`),
  runtimeClosed: define('model_start_failed', (modelId: string) => `model ${modelId}: the Docker runtime is closed`),
  containerDiedStarting: define(
    'model_start_failed',
    (modelId: string, reason: string) => `model ${modelId}: the container ${reason} while starting`,
  ),
  noPublishedPort: define(
    'model_start_failed',
    (modelId: string, port: number) => `model ${modelId}: Docker published no host port for ${port}/tcp`,
  ),
  foreignContainer: define(
    'model_start_failed',
    (modelId: string, name: string) =>
      `model ${modelId}: a container named ${name} exists that the gateway does not manage; remove or rename it (\`docker rm -f ${name}\`)`,
  ),
  emptyCommand: define('model_start_failed', () => 'The model has an empty command'),
  notADockerModel: define('internal_error', (modelId: string) => `model ${modelId} is not a docker model`),
  noEngineForHost: define('model_start_failed', (modelId: string, host: string) => `model ${modelId}: no Docker engine for host ${host}`),
  hostUnreachable: define(
    'host_unreachable',
    (modelId: string, host: string, why: string) => `model ${modelId}: host ${host} is unreachable: ${why}`,
  ),
  dockerHostUnsupported: define(
    'internal_error',
    (host: string) => `DOCKER_HOST ${host} is not supported: use unix:///path or tcp://host:port`,
  ),
} as const;
