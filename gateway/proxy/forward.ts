// Forwards one admitted request to its model server over undici and streams the answer back
// (docs/architecture.md rule 7). Bytes pass through as they come, with backpressure (P7): when the client's
// socket is full the upstream is paused until 'drain'. There is no total timeout (P4): undici's
// headersTimeout is the first-byte timeout and its bodyTimeout the idle gap between chunks.
// Retries happen only when the upstream never got the request (P1) and never once a byte reached
// the client (P2); their waits fit inside the first-byte deadline (P3).

import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { errors, GatewayError } from '../errors.js';
import type { AbortLike } from './cancel.js';
import type { ResponseTap } from './response-id-tap.js';
import type { ResponseTransform } from './response-transform.js';
import { decideRetry, errorCode, neverReachedUpstream, type RetrySettings } from './retry-policy.js';
import { UsageTail, type ResponseUsage } from './usage-tail.js';

export interface ForwardRequest {
  origin: string;
  method: string;
  /** Path and query, exactly as the client sent them. */
  path: string;
  headers: Record<string, string | string[]>;
  body: Buffer | null;
  /** Aborted when the client goes away or the gateway cuts the request. */
  signal: AbortLike;
  firstByteMs: number;
  idleMs: number;
  retry: RetrySettings;
  /**
   * Sent as the response's X-Request-Id (replacing the model server's). Set here, in writeHead's
   * header object, rather than with res.setHeader beforehand: any setHeader sends writeHead down
   * Node's slow path, which copies and validates every upstream header through setHeader.
   */
  responseId?: string;
  /** Called once when the upstream's response headers arrive (ms since forwarding began). */
  onResponseStart?(firstByteMs: number, streaming: boolean): void;
  /** Called before each retry's wait, whether or not a later attempt succeeds. */
  onRetry?(attempt: number, delayMs: number): void;
  /**
   * Called as a 2xx response ends, before its last byte goes to the client, with the token counts
   * of the upstream's `usage` object (null without one) and the ms since forwarding began.
   */
  onUsage?(usage: ResponseUsage | null, elapsedMs: number): void;
  /** Rewrites the response (another API's shape); absent: the upstream's bytes pass unchanged. */
  transform?: ResponseTransform;
  /** Sees the upstream's response (status, headers, each chunk before it is written, the end before the last byte). */
  tap?: ResponseTap;
  /** Called when the upstream fails after the client's response began (it is cut, or ends with an error line). */
  onBrokenResponse?(err: GatewayError): void;
}

export interface ForwardResult {
  status: number;
  attempts: number;
  /** ms from the start of forwarding to the upstream's response headers; null if none came. */
  firstByteMs: number | null;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1), `Expect` (answered by the gateway) and ones the proxy sets itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'expect',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The client's credentials for the gateway, and headers the gateway sets itself: never passed on. */
const NOT_FORWARDED = new Set(['host', 'content-length', 'authorization', 'cookie', 'x-api-key', 'x-request-id']);

/** The header names a `Connection` header lists: hop-by-hop for this one message (RFC 9110 §7.6.1). */
function connectionListed(connection: string | string[] | undefined): Set<string> | null {
  // What nearly every message carries, and names no header: no set to build.
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return null;
  const names = new Set<string>();
  for (const value of Array.isArray(connection) ? connection : [connection]) {
    for (const n of value.split(',')) {
      const name = n.trim().toLowerCase();
      if (name && name !== 'close' && name !== 'keep-alive') names.add(name);
    }
  }
  return names.size > 0 ? names : null;
}

/** Response headers to pass back: everything but hop-by-hop ones (those its Connection lists too). */
function responseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const listed = connectionListed(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v !== undefined && !HOP_BY_HOP.has(name) && !listed?.has(name)) out[name] = v;
  }
  return out;
}

/**
 * Request headers to pass on: hop-by-hop ones (and those the client's Connection names), host,
 * length, and the client's credentials for the gateway are dropped; a remote model's key is added.
 */
export function upstreamRequestHeaders(
  incoming: Record<string, string | string[] | undefined>,
  requestId: string,
  apiKey: string | null,
): Record<string, string | string[]> {
  const listed = connectionListed(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const v = incoming[name];
    if (v === undefined || HOP_BY_HOP.has(name) || NOT_FORWARDED.has(name) || listed?.has(name) || name.startsWith('proxy-')) continue;
    out[name] = v;
  }
  out['x-request-id'] = requestId;
  if (apiKey) out.authorization = `Bearer ${apiKey}`;
  return out;
}

class AttemptError extends Error {
  constructor(
    readonly original: Error,
    readonly responseStarted: boolean,
  ) {
    super(original.message, { cause: original });
  }
}

function abortReason(signal: AbortLike): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

/** The client read nothing for idleMs while the upstream's data waited for it (docs/configuration.md, timeouts.idleSeconds). */
export class ClientStalledError extends Error {
  readonly code = 'CLIENT_STALLED';
  constructor(idleMs: number) {
    super(`the client read nothing for ${Math.round(idleMs / 1000)} s`);
  }
}

/**
 * One attempt: undici's dispatch handler for the upstream request, writing the answer to the
 * client as it comes. Its methods are the handler's (one object per attempt, no closures for them).
 */
class Attempt implements Dispatcher.DispatchHandler {
  responseStarted = false;
  private controller: Dispatcher.DispatchController | null = null;
  private usageTail: UsageTail | null = null;
  // While the client's socket is full the upstream is paused, and undici's bodyTimeout cannot
  // fire: this timer bounds the pause instead. Armed only while paused.
  private stallTimer: NodeJS.Timeout | null = null;
  private resolve!: () => void;
  private reject!: (err: AttemptError) => void;
  readonly done = new Promise<void>((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });

  constructor(
    private readonly req: ForwardRequest,
    private readonly res: ServerResponse,
    private readonly started: number,
    private readonly result: ForwardResult,
  ) {
    req.signal.addEventListener('abort', this.onAbort);
  }

  // Listeners, so bound to the instance.
  private readonly onAbort = () => this.controller?.abort(abortReason(this.req.signal));
  private readonly onDrain = () => {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.controller?.resume();
  };
  private readonly onStall = () => {
    this.stallTimer = null;
    this.res.removeListener('drain', this.onDrain);
    this.controller?.abort(new ClientStalledError(this.req.idleMs));
  };

  private settle(err?: Error): void {
    this.req.signal.removeEventListener('abort', this.onAbort);
    this.res.removeListener('drain', this.onDrain);
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    if (err) this.reject(new AttemptError(err, this.responseStarted));
    else this.resolve();
  }

  onRequestStart(c: Dispatcher.DispatchController): void {
    this.controller = c;
    if (this.req.signal.aborted) c.abort(abortReason(this.req.signal));
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    const { req, res, result } = this;
    this.responseStarted = true;
    result.status = statusCode;
    result.firstByteMs = Date.now() - this.started;
    let streaming: boolean;
    if (req.transform) {
      const head = req.transform.head(statusCode, headers);
      if (head) res.writeHead(head.status, head.headers);
      streaming = head?.flush ?? false;
    } else {
      const out = responseHeaders(headers);
      if (req.responseId !== undefined) out['x-request-id'] = req.responseId;
      res.writeHead(statusCode, out);
      streaming = String(headers['content-type'] ?? '').startsWith('text/event-stream');
    }
    // Streams: send the headers now, so clients see the response begin before the first token.
    if (streaming) res.flushHeaders();
    if (req.onUsage && statusCode >= 200 && statusCode < 300) this.usageTail = new UsageTail();
    req.tap?.head(statusCode, headers);
    req.onResponseStart?.(result.firstByteMs, streaming);
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.usageTail?.push(chunk);
    this.req.tap?.data(chunk);
    const out = this.req.transform ? this.req.transform.data(chunk) : chunk;
    if (!out || out.length === 0) return;
    if (!this.res.write(out) && !this.stallTimer) {
      c.pause();
      this.res.once('drain', this.onDrain);
      this.stallTimer = setTimeout(this.onStall, this.req.idleMs);
    }
  }

  onResponseEnd(): void {
    const { req, res } = this;
    if (this.usageTail) req.onUsage!(this.usageTail.usage(), Date.now() - this.started);
    req.tap?.end();
    const tail = req.transform?.end();
    if (tail?.head && !res.headersSent) res.writeHead(tail.head.status, tail.head.headers);
    if (tail?.body && tail.body.length > 0) res.end(tail.body);
    else res.end();
    this.settle();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.settle(err);
  }
}

function attempt(dispatcher: Dispatcher, req: ForwardRequest, res: ServerResponse, started: number, result: ForwardResult): Promise<void> {
  const a = new Attempt(req, res, started, result);
  dispatcher.dispatch(
    {
      origin: req.origin,
      method: req.method as Dispatcher.HttpMethod,
      path: req.path,
      headers: req.headers,
      body: req.body,
      headersTimeout: req.firstByteMs,
      bodyTimeout: req.idleMs,
    },
    a,
  );
  return a.done;
}

/** Translate an upstream failure that happened before any response byte into the catalogue. */
function beforeResponseError(err: Error, req: ForwardRequest, attempts: number): GatewayError {
  const code = errorCode(err);
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return errors.noFirstByte(Math.round(req.firstByteMs / 1000), { cause: err });
  }
  const what = code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect timed out' : (code ?? err.message);
  // Reached, then the connection failed before any response (a server that died or reset while
  // handling the request): docs/http-api.md's upstream_error, whether or not the gateway has seen the
  // server's exit yet. upstream_unreachable is for a server never connected to.
  if (!neverReachedUpstream(err)) {
    return errors.upstreamFailedHandling(what, { cause: err });
  }
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  return errors.upstreamUnreachable(tries, what, { cause: err });
}

/** Translate an upstream failure after its response head (cut, or silent past idleMs) into the catalogue. */
function midResponseError(err: Error, req: ForwardRequest): GatewayError {
  if (err instanceof ClientStalledError) return errors.clientStalled(err.message, { cause: err });
  const code = errorCode(err);
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return errors.silentMidAnswer(Math.round(req.idleMs / 1000), { cause: err });
  }
  return errors.upstreamFailedSending(code ?? err.message, { cause: err });
}

/**
 * Forward and stream. Resolves when the response is complete or the client is gone; rejects with a
 * GatewayError only while nothing has been sent to the client (so the caller can still answer it).
 * Once the response started, a failure destroys the client connection: the client sees an error,
 * never a clean but truncated end.
 */
export async function forward(dispatcher: Dispatcher, req: ForwardRequest, res: ServerResponse): Promise<ForwardResult> {
  const started = Date.now();
  const deadline = started + req.firstByteMs;
  const result: ForwardResult = { status: 0, attempts: 0, firstByteMs: null };
  for (;;) {
    result.attempts += 1;
    try {
      await attempt(dispatcher, req, res, started, result);
      return result;
    } catch (e) {
      const { original, responseStarted } = e as AttemptError;
      if (req.signal.aborted) {
        const reason = req.signal.reason;
        // The client went away: nobody to answer.
        if (!(reason instanceof GatewayError)) {
          res.destroy();
          return result;
        }
        // Cut by the gateway (a forced unload, an eviction, shutdown): what the client has had so
        // far decides the answer, not how far the upstream got. Nothing yet (before the upstream
        // answered, or a transform gathering a whole answer): answer with why.
        if (!responseStarted || !res.headersSent) throw reason;
        req.onBrokenResponse?.(reason);
        // A stream in another API's shape ends with its error line (Ollama's {"error": …}).
        const tail = req.transform?.fail?.(reason) ?? null;
        if (tail !== null) res.end(tail);
        else res.destroy();
        return result;
      }
      if (responseStarted) {
        // A transform that gathers the whole answer has sent nothing yet: the client can still
        // be told why, with a status. Never retried: the upstream had the request (P1).
        const err = midResponseError(original, req);
        if (!res.headersSent) throw err;
        req.onBrokenResponse?.(err);
        // A stream in another API's shape may end with an error line of its own (Ollama's
        // {"error": …}); not to a client that stopped reading, which would never take it.
        const tail = original instanceof ClientStalledError ? null : (req.transform?.fail?.(err) ?? null);
        if (tail !== null) res.end(tail);
        else res.destroy(original);
        return result;
      }
      const decision = decideRetry(req.retry, result.attempts, original, Date.now(), deadline);
      if (!decision.retry) throw beforeResponseError(original, req, result.attempts);
      req.onRetry?.(result.attempts, decision.delayMs);
      await backoff(decision.delayMs, req.signal);
      if (req.signal.aborted) {
        if (req.signal.reason instanceof GatewayError) throw req.signal.reason;
        return result;
      }
    }
  }
}

/** Waits `ms`, or less when the signal aborts (the client went away: its slot is freed at once). */
function backoff(ms: number, signal: AbortLike): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
