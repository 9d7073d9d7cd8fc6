// Renders every error in the OpenAI shape (docs/http-api.md, docs/architecture.md rule 4). Fastify's own errors
// (body too large, bad content) are translated here too, at the edge.

import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { GatewayError } from '../errors.js';
import { isOllamaPath, ollamaErrorBody } from '../ollama/ollama-errors.js';

/** Errors on the Ollama routes are in Ollama's shape; everywhere else in the OpenAI one. */
export type ErrorShape = 'openai' | 'ollama';

export function errorShapeFor(path: string): ErrorShape {
  return isOllamaPath(path) ? 'ollama' : 'openai';
}

export function errorBody(err: GatewayError, shape: ErrorShape): object {
  return shape === 'ollama' ? ollamaErrorBody(err) : err.toBody();
}

export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('body_too_large', 'The request body is larger than limits.maxBodyBytes', { cause: err });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('invalid_json', e.message ?? 'Bad request body', { cause: err });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('invalid_request', e.message ?? 'Unsupported media type', { cause: err });
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new GatewayError('invalid_request', e.message ?? 'Bad request', { cause: err });
  }
  return new GatewayError('internal_error', 'Internal gateway error', { cause: err });
}

export function errorHeaders(err: GatewayError): Record<string, string> {
  return err.retryAfter !== undefined ? { 'retry-after': String(err.retryAfter) } : {};
}

/** For hijacked responses: answer with the error if nothing was sent yet, else cut the connection. */
export function sendErrorRaw(
  res: ServerResponse,
  raw: unknown,
  requestId: string,
  log: FastifyBaseLogger,
  shape: ErrorShape = 'openai',
): void {
  const err = toGatewayError(raw);
  if (err.status >= 500) log.warn({ code: err.code, err: err.message }, 'request failed');
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(err, shape));
  res.writeHead(err.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
    ...errorHeaders(err),
  });
  res.end(body);
}
