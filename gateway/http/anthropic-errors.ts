// Errors on Anthropic's routes (/v1/messages, /v1/messages/count_tokens): Anthropic's shape, which
// its SDKs and Claude Code read (docs.anthropic.com/en/api/errors):
//   {"type": "error", "error": {"type": "...", "message": "..."}, "request_id": "..."}
// with the same HTTP status as on the OpenAI routes, and the request id also in a `request-id`
// header (the SDKs' `requestID`). The gateway's own code goes in `error.details.error_code`, where
// Anthropic puts a cause's stable code: @anthropic-ai/sdk reads it as `APIError.errorCode`.

import { ERROR_CATALOGUE, GatewayError, type ErrorCode } from '../errors.js';
import type { ErrorObject } from '../proxy/progress-comments.js';

/** Anthropic's error types (docs.anthropic.com/en/api/errors; @anthropic-ai/sdk's ErrorType adds conflict_error, timeout_error). */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

/** Anthropic's routes: the Messages API and everything under it (count_tokens, and unknown subpaths). */
export function isAnthropicPath(path: string): boolean {
  return path === '/v1/messages' || path.startsWith('/v1/messages/') || path.startsWith('/v1/messages?');
}

/**
 * 503s that mean "too busy now, try again" are Anthropic's overloaded_error (its SDKs retry them,
 * Claude Code says so); a start that failed or a bug is an api_error.
 */
const BY_CODE: Partial<Record<ErrorCode, AnthropicErrorType>> = {
  queue_full: 'rate_limit_error',
  queue_timeout: 'overloaded_error',
  insufficient_vram: 'overloaded_error',
  model_cooling_down: 'overloaded_error',
  model_stopped: 'overloaded_error',
  shutting_down: 'overloaded_error',
  model_start_failed: 'api_error', // a 503, but trying again soon will not help: the message says why
  body_too_large: 'request_too_large',
  upstream_timeout: 'timeout_error',
  model_not_found: 'not_found_error',
  not_found: 'not_found_error',
};

export function anthropicErrorType(err: Pick<GatewayError, 'code' | 'status'>): AnthropicErrorType {
  return BY_CODE[err.code] ?? typeForStatus(err.status);
}

/** Anthropic's type for an HTTP status (docs.anthropic.com/en/api/errors "HTTP errors"). */
function typeForStatus(status: number): AnthropicErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 409) return 'conflict_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 529 || status === 503) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error'; // "We may also use this error type for other 4XX status codes"
}

export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string; details: { error_code: ErrorCode } };
  request_id: string;
}

export function anthropicErrorBody(err: GatewayError, requestId: string): AnthropicErrorBody {
  return {
    type: 'error',
    error: { type: anthropicErrorType(err), message: err.message, details: { error_code: err.code } },
    request_id: requestId,
  };
}

const ANTHROPIC_TYPES = new Set<string>([
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'conflict_error',
  'request_too_large',
  'rate_limit_error',
  'api_error',
  'timeout_error',
  'overloaded_error',
]);

/**
 * The event a streamed Messages request ends with when it fails before the model answered (with
 * streaming.progressComments its 200 went out already): Anthropic's stream error,
 * `event: error` + `data: {"type": "error", "error": {...}}`, which its SDKs raise as an APIError.
 * `error` is the gateway's error object, or an upstream's (`upstream_<status>`, or its own type).
 */
export function anthropicErrorEvent(error: ErrorObject): string {
  let type: AnthropicErrorType;
  let code: string = error.code;
  if (code in ERROR_CATALOGUE) type = anthropicErrorType({ code: code as ErrorCode, status: ERROR_CATALOGUE[code as ErrorCode].status });
  else if (ANTHROPIC_TYPES.has(error.type)) type = error.type as AnthropicErrorType;
  else {
    const status = /^upstream_(\d{3})$/.exec(code)?.[1];
    type = typeForStatus(status ? Number(status) : 500);
  }
  if (code === '') code = 'upstream_error';
  const body = { type: 'error', error: { type, message: error.message, details: { error_code: code } } };
  return `event: error\ndata: ${JSON.stringify(body)}\n\n`;
}
