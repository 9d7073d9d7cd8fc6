// Progress for streamed requests that must wait (docs/configuration.md `streaming.progressComments`):
// the client gets 200 and SSE headers at once, then a comment line `: vllm-gateway <phase> …` at once,
// on every change of phase and at least every 5 s, until the upstream answers. An upstream 200 is
// passed on byte for byte (its headers are not: ours went first); a failure before that ends the
// stream with one event `data: {"error": {...}}`. IDE clients that give up after 30–60 s without a
// byte survive a cold start this way; SSE parsers (the official SDKs' included) skip comment lines.
//
// ProgressResponse stands in for the client's ServerResponse in forward(): forward() writes the
// upstream's answer into it exactly as it would into the response itself.

import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** The contract's error object; an upstream's may carry its own type and code strings. */
export interface ErrorObject {
  message: string;
  type: string;
  code: string;
  param: string | null;
}

export type ProgressPhase = 'queued' | 'pulling' | 'starting' | 'waking' | 'sent';

export interface ProgressSnapshot {
  phase: ProgressPhase;
  /** 1-based place in the model's queue, while queued. */
  position?: number | null;
  /** 0–100 where known (image pull, wake steps). */
  percent?: number | null;
}

export interface ProgressOptions {
  model: string;
  requestId: string;
  /** Reads where the request stands now; asked every `tickMs`. */
  read(): ProgressSnapshot;
  /** Longest silence between two comments (the contract's 5 s). */
  intervalMs?: number;
  /** How often `read()` is asked, to see a new phase soon. */
  tickMs?: number;
  now?(): number;
  /** The failure event in the route's API (Anthropic's `event: error` on /v1/messages); default errorEvent. */
  errorEvent?(error: ErrorObject): string;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // Proxies in front (nginx) must not buffer the comments away.
  'x-accel-buffering': 'no',
};
/** Upstream error bodies longer than this are cut before they are read as JSON. */
const ERROR_BODY_CAP = 64 * 1024;

/** One comment line (and the blank line that ends the SSE block). */
export function progressComment(model: string, s: ProgressSnapshot, elapsedMs: number): string {
  let line = `: vllm-gateway ${s.phase} model=${model} elapsed=${Math.floor(elapsedMs / 1000)}s`;
  if (s.position != null) line += ` position=${s.position}`;
  if (s.percent != null) line += ` percent=${Math.round(s.percent)}`;
  return line + '\n\n';
}

/** The one event a failed stream ends with. */
export function errorEvent(error: ErrorObject): string {
  return `data: ${JSON.stringify({ error })}\n\n`;
}

/**
 * An upstream error answer as the `error` object of the contract's shape: its own error object
 * (OpenAI's `{"error": {...}}`, or vLLM's top-level `{"object": "error", "message": …}`), else
 * code `upstream_<status>` with the body's text as the message.
 */
export function upstreamErrorObject(status: number, body: string): ErrorObject {
  const type = status >= 500 ? 'server_error' : status === 429 ? 'rate_limit_error' : 'invalid_request_error';
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    const inner = parsed && typeof parsed === 'object' ? (parsed.error ?? (parsed.object === 'error' ? parsed : null)) : null;
    if (inner && typeof inner === 'object' && typeof (inner as { message?: unknown }).message === 'string') {
      const e = inner as Record<string, unknown>;
      return {
        message: e.message as string,
        type: typeof e.type === 'string' ? e.type : type,
        code: typeof e.code === 'string' || typeof e.code === 'number' ? String(e.code) : `upstream_${status}`,
        param: typeof e.param === 'string' ? e.param : null,
      };
    }
    if (typeof inner === 'string') return { message: inner, type, code: `upstream_${status}`, param: null };
  } catch {
    // not JSON: the text itself is the message
  }
  const text = body.trim().slice(0, 500);
  return { message: text || `The model server answered ${status}`, type, code: `upstream_${status}`, param: null };
}

/** A JSON body with `"stream": true` (the only requests progress comments are for). */
export function asksForStream(body: Buffer | undefined, contentType: string | undefined): boolean {
  if (!body || body.length === 0 || (contentType !== undefined && !/json/i.test(contentType))) return false;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { stream?: unknown } | null;
    return parsed !== null && typeof parsed === 'object' && parsed.stream === true;
  } catch {
    return false;
  }
}

type Mode = 'waiting' | 'passthrough' | 'collecting' | 'done';

export class ProgressResponse {
  private mode: Mode = 'waiting';
  private timer: NodeJS.Timeout | null = null;
  private readonly started: number;
  private lastWrite = 0;
  private lastPhase: ProgressPhase | null = null;
  private upstreamStatus = 0;
  private collected: Buffer[] = [];
  private collectedBytes = 0;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly tickMs: number;

  constructor(
    private readonly res: ServerResponse,
    private readonly opts: ProgressOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.intervalMs = opts.intervalMs ?? 5000;
    this.tickMs = Math.min(opts.tickMs ?? 1000, this.intervalMs);
    this.started = this.now();
  }

  /** Sends 200, the SSE headers and the first comment, and keeps commenting until the upstream answers. */
  begin(): void {
    this.res.writeHead(200, { ...SSE_HEADERS, 'x-request-id': this.opts.requestId });
    this.res.flushHeaders();
    this.tick(true);
    this.timer = setInterval(() => this.tick(false), this.tickMs);
    this.timer.unref?.();
    this.res.once('close', () => this.stop());
  }

  private tick(force: boolean): void {
    if (this.mode !== 'waiting' || this.res.destroyed) return;
    const s = this.opts.read();
    const t = this.now();
    // Written on a new phase, and early enough that the next tick cannot come after the interval.
    if (!force && s.phase === this.lastPhase && t - this.lastWrite + this.tickMs <= this.intervalMs) return;
    this.lastPhase = s.phase;
    this.lastWrite = t;
    this.res.write(progressComment(this.opts.model, s, t - this.started));
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A failure before the upstream answered: one error event, and the end. */
  fail(error: ErrorObject): void {
    if (this.mode === 'done' || this.mode === 'passthrough') {
      if (this.mode === 'passthrough') this.res.destroy();
      return;
    }
    this.stop();
    this.mode = 'done';
    if (!this.res.destroyed) this.res.end((this.opts.errorEvent ?? errorEvent)(error));
  }

  // ---- the part of ServerResponse that forward() uses --------------------------------------

  get headersSent(): boolean {
    return true;
  }
  get destroyed(): boolean {
    return this.res.destroyed;
  }
  get writableEnded(): boolean {
    return this.res.writableEnded;
  }

  writeHead(status: number, _headers?: OutgoingHttpHeaders): this {
    this.stop();
    this.upstreamStatus = status;
    this.mode = status === 200 ? 'passthrough' : 'collecting';
    return this;
  }

  flushHeaders(): void {}

  write(chunk: Buffer | string): boolean {
    if (this.mode === 'passthrough') return this.res.write(chunk);
    if (this.mode === 'collecting' && this.collectedBytes < ERROR_BODY_CAP) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      this.collected.push(b);
      this.collectedBytes += b.length;
    }
    return true;
  }

  end(chunk?: Buffer | string): this {
    if (chunk !== undefined) this.write(chunk);
    if (this.mode === 'passthrough') {
      this.mode = 'done';
      this.res.end();
    } else if (this.mode === 'collecting') {
      const body = Buffer.concat(this.collected).toString('utf8', 0, Math.min(this.collectedBytes, ERROR_BODY_CAP));
      this.fail(upstreamErrorObject(this.upstreamStatus, body));
    }
    return this;
  }

  destroy(err?: Error): this {
    this.stop();
    this.mode = 'done';
    this.res.destroy(err);
    return this;
  }

  once(event: string, fn: (...args: unknown[]) => void): this {
    this.res.once(event, fn);
    return this;
  }

  on(event: string, fn: (...args: unknown[]) => void): this {
    this.res.on(event, fn);
    return this;
  }

  removeListener(event: string, fn: (...args: unknown[]) => void): this {
    this.res.removeListener(event, fn);
    return this;
  }

  /** What forward() is given in place of the client's response. */
  asResponse(): ServerResponse {
    return this as unknown as ServerResponse;
  }
}
