// The response transforms of the Ollama routes (gateway/proxy/response-transform.ts): the upstream's
// SSE becomes NDJSON lines as it comes (`stream: true`) or one JSON object at the end; an upstream
// error status becomes Ollama's `{"error": "..."}` with that status.

import type { ResponseTransform, TransformedHead, UpstreamHeaders } from '../proxy/response-transform.js';
import { ChatStreamConverter, embeddingsFromOpenAi, openAiErrorMessage, type ConverterOptions, type Timings } from './from-openai.js';
import { SseDecoder } from './sse-decoder.js';

type Json = Record<string, unknown>;

export const NDJSON = 'application/x-ndjson';
const JSON_TYPE = 'application/json; charset=utf-8';

function jsonHead(status: number, body: string): TransformedHead {
  return { status, headers: { 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(body)) }, flush: false };
}

/** A whole body in Ollama's shape with its head. */
function whole(status: number, value: unknown): { head: TransformedHead; body: string } {
  const body = JSON.stringify(value);
  return { head: jsonHead(status, body), body };
}

function parseJson(bytes: Buffer[]): unknown {
  try {
    return JSON.parse(Buffer.concat(bytes).toString('utf8'));
  } catch {
    return null;
  }
}

/** Longest upstream error text kept (a body that is not JSON: an HTML page, a proxy's text). */
const ERROR_TEXT_MAX = 2000;

/** An upstream error body's message: the JSON error's, or the body's own text when it is not JSON. */
function upstreamErrorMessage(bytes: Buffer[], status: number): string {
  const text = Buffer.concat(bytes).toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    const trimmed = text.trim();
    if (trimmed === '') return openAiErrorMessage(null, status);
    return trimmed.length > ERROR_TEXT_MAX ? `${trimmed.slice(0, ERROR_TEXT_MAX)}…` : trimmed;
  }
  return openAiErrorMessage(body, status);
}

const ndjson = (objects: Json[]) => (objects.length === 0 ? null : objects.map((o) => `${JSON.stringify(o)}\n`).join(''));

/** A whole chat/text completion (an upstream that did not stream) as one stream chunk, for the converter. */
function completionAsChunk(body: Json): string {
  const choice = (Array.isArray(body.choices) ? body.choices[0] : undefined) as Json | undefined;
  const message = (choice?.message ?? {}) as Json;
  const toolCalls = Array.isArray(message.tool_calls) ? (message.tool_calls as Json[]).map((tc, index) => ({ ...tc, index })) : undefined;
  return JSON.stringify({
    choices: choice
      ? [
          {
            text: choice.text,
            delta: { content: message.content, reasoning: message.reasoning ?? message.reasoning_content, tool_calls: toolCalls },
            finish_reason: choice.finish_reason ?? null,
          },
        ]
      : [],
    usage: body.usage,
  });
}

/** /api/chat and /api/generate. */
export class GenerationTransform implements ResponseTransform {
  private readonly sse = new SseDecoder();
  private readonly converter: ChatStreamConverter;
  private mode: 'sse' | 'gather' | 'error' = 'sse';
  private status = 200;
  private readonly gathered: Buffer[] = [];

  constructor(
    o: ConverterOptions,
    private readonly stream: boolean,
  ) {
    this.converter = new ChatStreamConverter(o);
  }

  head(status: number, headers: UpstreamHeaders): TransformedHead | null {
    this.status = status;
    if (status >= 400) this.mode = 'error';
    else if (!String(headers['content-type'] ?? '').startsWith('text/event-stream')) this.mode = 'gather';
    if (this.mode !== 'sse' || !this.stream) return null;
    return { status: 200, headers: { 'content-type': NDJSON }, flush: true };
  }

  data(chunk: Buffer): string | null {
    if (this.mode !== 'sse') {
      this.gathered.push(chunk);
      return null;
    }
    return this.lines(this.sse.push(chunk));
  }

  private lines(events: string[]): string | null {
    const out: Json[] = [];
    for (const e of events) out.push(...this.converter.event(e));
    return this.stream ? ndjson(out) : null;
  }

  end(): { head?: TransformedHead; body: string | null } {
    if (this.mode === 'error') {
      return whole(this.status, { error: upstreamErrorMessage(this.gathered, this.status) });
    }
    if (this.mode === 'gather') {
      const body = parseJson(this.gathered);
      if (body === null || typeof body !== 'object') return whole(502, { error: 'the model server sent a body that is not JSON' });
      const lines = this.converter.event(completionAsChunk(body as Json));
      if (!this.stream) return whole(200, this.converter.whole());
      return { head: { status: 200, headers: { 'content-type': NDJSON }, flush: false }, body: ndjson([...lines, this.converter.final()]) };
    }
    const rest = this.lines(this.sse.end()) ?? '';
    if (this.stream) {
      // An error inside the stream was sent as its own line ({"error": …}) and ends it, as in Ollama.
      return { body: this.converter.error !== null ? rest || null : rest + `${JSON.stringify(this.converter.final())}\n` };
    }
    if (this.converter.error !== null) return whole(500, { error: this.converter.error });
    return whole(200, this.converter.whole());
  }

  /** A stream whose upstream failed ends with Ollama's error line (the ollama client throws its message). */
  fail(err: { message: string }): string | null {
    return this.mode === 'sse' && this.stream ? `${JSON.stringify({ error: err.message })}\n` : null;
  }
}

/** /api/embed and /api/embeddings: one JSON answer either way. */
export class EmbeddingTransform implements ResponseTransform {
  private status = 200;
  private readonly gathered: Buffer[] = [];

  constructor(private readonly o: { model: string; legacy: boolean; dimensions: number | null; timings: Timings; now(): number }) {}

  head(status: number): null {
    this.status = status;
    return null;
  }

  data(chunk: Buffer): null {
    this.gathered.push(chunk);
    return null;
  }

  end(): { head: TransformedHead; body: string } {
    if (this.status >= 400) return whole(this.status, { error: upstreamErrorMessage(this.gathered, this.status) });
    const body = parseJson(this.gathered);
    if (body === null || typeof body !== 'object') return whole(502, { error: 'the model server sent a body that is not JSON' });
    return whole(200, embeddingsFromOpenAi(body as Json, { ...this.o, now: this.o.now() }));
  }
}
