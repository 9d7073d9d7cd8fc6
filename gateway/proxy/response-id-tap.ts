// Reads the id of a Responses API answer (POST /v1/responses) from its bytes as they pass, without
// holding any back: the JSON body's top-level `id`, or a stream's `response.created` event
// (`data: {"type":"response.created","response":{"id":...}}`, the first event vLLM sends:
// vllm/entrypoints/openai/responses/serving.py). Only what is needed is copied: the bytes of
// strings at the body's top level while scanning JSON, the first events of a stream.

/** Watches a response as forward.ts passes it to the client. */
export interface ResponseTap {
  head(status: number, headers: Record<string, string | string[] | undefined>): void;
  data(chunk: Buffer): void;
  /** Called before the last byte goes to the client. */
  end(): void;
}

/** Longest id read (vLLM's are `resp_` + 32 hex digits; a remote proxy's may be far longer). */
export const MAX_ID_BYTES = 256;
/** Bytes of a JSON body scanned for its top-level `id` before giving up. */
const MAX_JSON_SCAN = 1 << 20;
/** Bytes of a stream's first events kept while looking for `response.created`. */
const MAX_SSE_BYTES = 64 * 1024;

export class ResponseIdTap implements ResponseTap {
  private mode: 'json' | 'sse' | 'off' = 'off';
  private found = false;
  private readonly json = new TopLevelIdScanner();
  private sse: Buffer[] = [];
  private sseBytes = 0;

  constructor(private readonly onId: (id: string) => void) {}

  head(status: number, headers: Record<string, string | string[] | undefined>): void {
    const type = String(headers['content-type'] ?? '').toLowerCase();
    this.mode = status < 200 || status >= 300 || this.found ? 'off' : type.startsWith('text/event-stream') ? 'sse' : 'json';
  }

  data(chunk: Buffer): void {
    if (this.mode === 'off') return;
    if (this.mode === 'json') {
      const id = this.json.push(chunk);
      if (id !== null) this.hit(id);
      else if (this.json.scanned > MAX_JSON_SCAN || this.json.done) this.mode = 'off';
      return;
    }
    this.sse.push(Buffer.from(chunk)); // a copy: the chunk is the client's to keep
    this.sseBytes += chunk.length;
    const text = Buffer.concat(this.sse, this.sseBytes).toString('utf8');
    const id = createdIdIn(text);
    if (id !== null) this.hit(id);
    else if (this.sseBytes > MAX_SSE_BYTES) this.stop();
  }

  end(): void {
    this.stop();
  }

  private hit(id: string): void {
    this.found = true;
    this.stop();
    this.onId(id);
  }

  private stop(): void {
    this.mode = 'off';
    this.sse = [];
    this.sseBytes = 0;
  }
}

/**
 * The id of the stream's `response.created` event among the complete events of `text`, or null.
 * Events are separated by a blank line; their `data:` lines joined make the JSON (the SSE spec).
 */
export function createdIdIn(text: string): string | null {
  const events = text.split(/\r?\n\r?\n/);
  events.pop(); // the last piece is not complete yet (or is empty)
  for (const event of events) {
    const data = event
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(l[5] === ' ' ? 6 : 5))
      .join('\n');
    if (!data.includes('response.created')) continue;
    try {
      const e = JSON.parse(data) as { type?: unknown; response?: { id?: unknown } };
      if (e.type === 'response.created' && typeof e.response?.id === 'string' && e.response.id !== '') return e.response.id;
    } catch {
      // not JSON: not the event we look for
    }
  }
  return null;
}

/**
 * Finds the string value of the top-level key `id` of a JSON object as its bytes arrive, in one
 * pass: it tracks nesting and strings, and copies only strings at depth 1 (keys and values).
 */
export class TopLevelIdScanner {
  scanned = 0;
  /** The object ended (or the body is not an object) without a string `id`. */
  done = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private capture: number[] | null = null;
  private lastKey: string | null = null;
  private wantId = false;

  /** Feeds bytes; returns the id once it is complete, else null. */
  push(chunk: Buffer): string | null {
    for (let i = 0; i < chunk.length && !this.done; i++) {
      const c = chunk[i];
      this.scanned++;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) {
          this.inString = false;
          const bytes = this.capture;
          this.capture = null;
          if (bytes === null) continue;
          let s: string | null;
          try {
            s = JSON.parse(`"${Buffer.from(bytes).toString('utf8')}"`) as string;
          } catch {
            s = null;
          }
          if (this.wantId) {
            this.wantId = false;
            if (s !== null && s !== '') {
              this.done = true;
              return s;
            }
          } else this.lastKey = s;
          continue;
        }
        if (this.capture !== null) {
          if (this.capture.length < MAX_ID_BYTES) this.capture.push(c);
          else this.capture = null; // too long for an id (or a key we look for): not copied further
        }
        continue;
      }
      switch (c) {
        case 0x22: // "
          this.inString = true;
          this.capture = this.depth === 1 ? [] : null;
          break;
        case 0x7b: // {
        case 0x5b: // [
          if (this.depth === 0 && c === 0x5b) this.done = true;
          this.depth++;
          this.wantId = false;
          break;
        case 0x7d: // }
        case 0x5d: // ]
          if (--this.depth <= 0) this.done = true;
          break;
        case 0x3a: // :
          if (this.depth === 1) this.wantId = this.lastKey === 'id';
          this.lastKey = null;
          break;
        case 0x2c: // ,
          this.wantId = false;
          this.lastKey = null;
          break;
        case 0x20:
        case 0x0a:
        case 0x0d:
        case 0x09:
          break;
        default:
          if (this.depth === 0) this.done = true; // not an object
          this.wantId = false; // a number, true, false or null: not an id
      }
    }
    return null;
  }
}
