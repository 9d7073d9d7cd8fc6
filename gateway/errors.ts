// One error catalogue (docs/architecture.md rule 4, docs/http-api.md). Every error the gateway answers
// with is a GatewayError carrying its code; one Fastify error handler renders it.

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

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}
