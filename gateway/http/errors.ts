// Renders every error in its route's shape (docs/http-api.md, docs/architecture.md rule 4): OpenAI's, Ollama's
// on /api/*, Anthropic's on /v1/messages*. Fastify's own errors (a bad media type or URL, a path part
// too long) are translated here too, at the edge; bodies are read by the front door (request-body.ts),
// so its size and length errors are already the gateway's.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { errors, GatewayError } from '../errors.js';
import { isOllamaPath, ollamaErrorBody } from '../ollama/ollama-errors.js';
import { anthropicErrorBody, isAnthropicPath } from './anthropic-errors.js';
import { requestIdOf } from './guards.js';

/** Errors on the Ollama routes are in Ollama's shape, on the Messages API in Anthropic's; everywhere else in the OpenAI one. */
export type ErrorShape = 'openai' | 'ollama' | 'anthropic';

export function errorShapeFor(path: string): ErrorShape {
  return isOllamaPath(path) ? 'ollama' : isAnthropicPath(path) ? 'anthropic' : 'openai';
}

/**
 * The shape for a raw request target, before any route has matched it (answers to Expect, framework
 * errors): origin- or absolute-form, query dropped, percent-decoding tried, as the router would see it.
 */
export function errorShapeForTarget(target: string | undefined): ErrorShape {
  let path = (target ?? '/').split('?')[0];
  if (path.charCodeAt(0) !== 47 /* '/' */) path = path.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  try {
    path = decodeURIComponent(path);
  } catch {
    // a bad percent-encoding: decide on the bytes as sent
  }
  return errorShapeFor(path);
}

export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errors.unsupportedMediaType({ cause: err });
    case 'FST_ERR_BAD_URL':
      return errors.badUrl({ cause: err });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return errors.pathPartTooLong({ cause: err });
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return errors.badRequest(e.message ?? 'Bad request', { cause: err });
  }
  return errors.internal({ cause: err });
}

export function errorHeaders(err: GatewayError): Record<string, string> {
  return err.retryAfter !== undefined ? { 'retry-after': String(err.retryAfter) } : {};
}

/** The error's body for a client; `redact` (when given) filters the message (redact.ts). */
export function errorBody(err: GatewayError, redact?: (text: string) => string): ReturnType<GatewayError['toBody']> {
  const body = err.toBody();
  if (redact) body.error.message = redact(body.error.message);
  return body;
}

/**
 * The body in the shape of the route's API: OpenAI's, Ollama's `{"error": "message"}` on /api/*, or
 * Anthropic's `{"type": "error", "error": {...}}` on /v1/messages* (anthropic-errors.ts).
 */
export function shapedErrorBody(err: GatewayError, shape: ErrorShape, redact?: (text: string) => string, requestId = ''): object {
  if (shape === 'openai') return errorBody(err, redact);
  if (shape === 'anthropic') {
    const body = anthropicErrorBody(err, requestId);
    if (redact) body.error.message = redact(body.error.message);
    return body;
  }
  const body = ollamaErrorBody(err);
  if (redact) body.error = redact(body.error);
  return body;
}

/** What the gateway answers for an error, in the route's shape: status, headers, body. */
export function errorResponse(
  err: GatewayError,
  requestId: string,
  shape: ErrorShape,
  redact?: (text: string) => string,
): { status: number; headers: Record<string, string>; body: string } {
  const body = JSON.stringify(shapedErrorBody(err, shape, redact, requestId));
  return {
    status: err.status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'x-request-id': requestId,
      ...(shape === 'anthropic' ? { 'request-id': requestId } : {}),
      ...errorHeaders(err),
    },
    body,
  };
}

/**
 * The one logging policy for errors the gateway answers: a bug (500) at error, the other 5xx
 * (upstream down, start failed, timeouts) at warn, 4xx not at all (the request line has them).
 */
export function logAnsweredError(log: FastifyBaseLogger, err: GatewayError): void {
  if (err.status < 500) return;
  const fields = { code: err.code, err: err.message, cause: (err.cause as Error | undefined)?.message };
  if (err.code === 'internal_error') log.error(fields, 'request failed');
  else log.warn(fields, 'request failed');
}

/** For hijacked responses: answer with the error if nothing was sent yet, else cut the connection. */
export function sendErrorRaw(
  res: ServerResponse,
  raw: unknown,
  requestId: string,
  log: FastifyBaseLogger,
  redact?: (text: string) => string,
  shape: ErrorShape = 'openai',
): void {
  const err = toGatewayError(raw);
  logAnsweredError(log, err);
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const r = errorResponse(err, requestId, shape, redact);
  res.writeHead(r.status, r.headers);
  res.end(r.body);
}

/**
 * Answers a request that Node holds before any route sees it (an `Expect` header to refuse): the
 * error in its target's shape, with `extraHeaders` (e.g. `connection: close`) added.
 */
export function answerBeforeRoute(
  req: IncomingMessage,
  res: ServerResponse,
  err: GatewayError,
  extraHeaders: Record<string, string> = {},
): void {
  const r = errorResponse(err, requestIdOf(req.headers), errorShapeForTarget(req.url));
  res.writeHead(r.status, { ...r.headers, ...extraHeaders });
  res.end(r.body);
}

/** A request Node's HTTP parser refused before any route saw it (Fastify's `clientError`). */
export function clientErrorToGatewayError(err: { code?: string }): GatewayError {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return errors.requestTimeout({ cause: err });
    case 'HPE_HEADER_OVERFLOW':
      return errors.headersTooLarge({ cause: err });
    default:
      return errors.notHttp(err.code, { cause: err });
  }
}

/** Writes an error answer straight to a socket no response object owns, then closes it. */
function answerOnSocket(socket: Socket, gw: GatewayError, shape: ErrorShape = 'openai'): void {
  const id = randomUUID();
  const body = JSON.stringify(shapedErrorBody(gw, shape, undefined, id));
  socket.write(
    `HTTP/1.1 ${gw.status} ${STATUS_TEXT[gw.status] ?? 'Bad Request'}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${id}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Fastify's clientErrorHandler: the answer in the OpenAI shape, then the connection is closed (the
 * parser cannot find the next request's start after a malformed one).
 */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const pending = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  // A request whose head was read (a body too slow: 408) is answered in its route's shape (Ollama's
  // on /api/*); one the parser could not read has no path to go by.
  if (socket.writable && !pending?.headersSent)
    answerOnSocket(socket, clientErrorToGatewayError(err), errorShapeForTarget(pending?.req?.url));
  socket.destroySoon(); // flush the answer, then close both ways
}

/**
 * The server's 'connect' listener: a CONNECT asks for a tunnel, which the gateway never opens. Node
 * hands the socket over raw (no response object, no route), and without a listener would close it
 * unanswered.
 */
export function answerConnect(_req: unknown, socket: Socket): void {
  socket.on('error', () => {});
  if (socket.writable) {
    answerOnSocket(socket, errors.connectNotSupported());
  }
  socket.destroySoon();
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};
