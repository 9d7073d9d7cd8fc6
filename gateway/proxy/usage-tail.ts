// Reads a response's `usage` (its token counts) without holding the response back: the proxy
// passes every chunk on at once and keeps only references to the last few, enough to cover the
// last TAIL_BYTES. vLLM (like OpenAI) puts `usage` at the very end: last key but two of a JSON
// body, the last event before `data: [DONE]` of a stream asked for with
// `stream_options.include_usage`, the `message_delta` event of an Anthropic stream, the
// `response.completed` event of a Responses stream. Once the response has ended, the last
// `"usage":` in that tail is cut out and handed to JSON.parse.

export interface ResponseUsage {
  promptTokens: number | null;
  completionTokens: number | null;
}

const TAIL_BYTES = 8192;
const KEY = Buffer.from('"usage"');

export class UsageTail {
  private chunks: Buffer[] = [];
  private head = 0;
  private bytes = 0;

  /** Keeps a reference to the chunk (no copy); drops the oldest ones no longer needed. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length - this.head > 1 && this.bytes - this.chunks[this.head].length >= TAIL_BYTES) {
      this.bytes -= this.chunks[this.head].length;
      this.head++;
    }
    if (this.head > 64) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  /** The token counts of the last `usage` object in the tail, or null when there is none. */
  usage(): ResponseUsage | null {
    const live = this.chunks.length - this.head;
    if (live === 0) return null;
    const tail = live === 1 ? this.chunks[this.head] : Buffer.concat(this.head ? this.chunks.slice(this.head) : this.chunks, this.bytes);
    return usageIn(tail);
  }
}

/** The last `"usage": {...}` of a JSON or SSE text, parsed. */
export function usageIn(buf: Buffer): ResponseUsage | null {
  const at = buf.lastIndexOf(KEY);
  if (at < 0) return null;
  let i = at + KEY.length;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x3a)) i++; // spaces and the colon
  if (buf[i] !== 0x7b) return null; // `"usage": null`, or cut short
  const end = objectEnd(buf, i);
  if (end < 0) return null;
  let u: Record<string, unknown>;
  try {
    u = JSON.parse(buf.toString('utf8', i, end + 1)) as Record<string, unknown>;
  } catch {
    return null;
  }
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);
  const usage = {
    promptTokens: num(u.prompt_tokens) ?? num(u.input_tokens),
    completionTokens: num(u.completion_tokens) ?? num(u.output_tokens),
  };
  return usage.promptTokens === null && usage.completionTokens === null ? null : usage;
}

/** Index of the `}` closing the object that opens at `start`, skipping strings; -1 if it never closes. */
function objectEnd(buf: Buffer, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return i;
  }
  return -1;
}
