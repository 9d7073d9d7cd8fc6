// Reads the `model` a request names and, for an alias, rewrites it to the model's id. The body is
// otherwise forwarded byte for byte (docs/http-api.md). JSON bodies here; multipart forms in multipart-model.ts.

import { errors } from '../errors.js';

export interface BodyModel {
  model: string;
  /** The body with only the bytes of `model`'s value replaced (only called for aliases). */
  rewrite(id: string): Buffer;
}

export const shown = (s: string) => (s.length > 80 ? `${s.slice(0, 80)}…` : s);

export function requireModel(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw errors.modelRequired();
  }
  return value;
}

/**
 * Bodies from this size on are parsed from a latin1 view of the bytes: decoding 1 MiB as latin1
 * costs a third of decoding it as UTF-8 and gives a one-byte string JSON.parse reads faster. It
 * accepts exactly the same bodies: JSON's structure is ASCII, and a byte of 0x80 or more is valid
 * inside a string and invalid outside one under both decodings (UTF-8 decoding never lets an
 * invalid sequence swallow an ASCII byte). Only a non-ASCII `model` needs the UTF-8 reading.
 */
const LATIN1_FROM_BYTES = 64 * 1024;
// eslint-disable-next-line no-control-regex -- the whole ASCII range, control characters included, is meant
const NON_ASCII = /[^\x00-\x7f]/;

function fromJson(body: Buffer): BodyModel {
  let parsed: unknown;
  const latin1 = body.length >= LATIN1_FROM_BYTES;
  try {
    parsed = JSON.parse(body.toString(latin1 ? 'latin1' : 'utf8'));
  } catch (err) {
    throw errors.invalidJson((err as Error).message, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw errors.notJsonObject();
  }
  const obj = parsed as Record<string, unknown>;
  let value = Object.prototype.hasOwnProperty.call(obj, 'model') ? obj.model : undefined;
  if (latin1 && typeof value === 'string' && NON_ASCII.test(value)) {
    value = (JSON.parse(body.toString('utf8')) as Record<string, unknown>).model;
  }
  const model = requireModel(value);
  return {
    model,
    rewrite(id) {
      // Only the value's bytes change: numbers past 2^53, "1.0", key order, spacing and invalid
      // UTF-8 inside other strings reach the server exactly as the client wrote them.
      const span = lastTopLevelMember(body, 'model');
      if (!span) throw errors.modelSpanMissing();
      return Buffer.concat([body.subarray(0, span.start), Buffer.from(JSON.stringify(id), 'utf8'), body.subarray(span.end)]);
    },
  };
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function skipWs(b: Buffer, i: number): number {
  while (i < b.length && WS.has(b[i])) i++;
  return i;
}

/** b[i] is '"': the index after the closing quote. */
function skipString(b: Buffer, i: number): number {
  for (i++; i < b.length; i++) {
    const c = b[i];
    if (c === 0x5c) i++;
    else if (c === 0x22) return i + 1;
  }
  return b.length;
}

/** The index after the JSON value starting at i (b is known to be valid JSON). */
function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === 0x22) return skipString(b, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    while (i < b.length) {
      const d = b[i];
      if (d === 0x22) {
        i = skipString(b, i);
        continue;
      }
      if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return i;
  }
  while (i < b.length && !WS.has(b[i]) && b[i] !== 0x2c && b[i] !== 0x7d && b[i] !== 0x5d) i++;
  return i;
}

/**
 * The byte span of the value of the last top-level member named `key` (the one JSON.parse, and
 * Python's json.loads in vLLM, keep when a key repeats); keys are compared decoded ("mo\u0064el").
 */
export function lastTopLevelMember(body: Buffer, key: string): { start: number; end: number } | null {
  let i = skipWs(body, 0);
  if (body[i] !== 0x7b) return null;
  i = skipWs(body, i + 1);
  let found: { start: number; end: number } | null = null;
  while (i < body.length && body[i] === 0x22) {
    const keyStart = i;
    i = skipString(body, i);
    const raw = body.subarray(keyStart, i);
    const name = raw.includes(0x5c) ? (JSON.parse(raw.toString('utf8')) as string) : raw.toString('utf8', 1, raw.length - 1);
    i = skipWs(body, i);
    if (body[i] !== 0x3a) return found;
    i = skipWs(body, i + 1);
    const start = i;
    i = skipValue(body, i);
    if (name === key) found = { start, end: i };
    i = skipWs(body, i);
    if (body[i] !== 0x2c) break;
    i = skipWs(body, i + 1);
  }
  return found;
}

export function isMultipart(contentType: string | undefined): boolean {
  return contentType !== undefined && /^multipart\/form-data/i.test(contentType);
}

/** The model of a JSON body (multipart forms: multipart-model.ts). */
export function readBodyModel(body: Buffer | undefined, _contentType?: string): BodyModel {
  if (!body || body.length === 0) {
    throw errors.emptyBody();
  }
  return fromJson(body);
}

export function describeModel(name: string): string {
  return shown(name);
}
