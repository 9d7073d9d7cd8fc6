// Reads the `model` a request names and, for an alias, rewrites it to the model's id. The body is
// otherwise forwarded byte for byte (docs/http-api.md). JSON bodies and multipart forms (transcriptions).

import { GatewayError } from '../errors.js';

export interface BodyModel {
  model: string;
  /** Re-encode the body with `model` replaced (only called for aliases). */
  rewrite(id: string): Buffer;
}

const shown = (s: string) => (s.length > 80 ? `${s.slice(0, 80)}…` : s);

function requireModel(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new GatewayError('model_required', 'The request body must name a model: "model" must be a non-empty string', { param: 'model' });
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
    throw new GatewayError('invalid_json', `The request body is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new GatewayError('model_required', 'The request body must be a JSON object naming a model', { param: 'model' });
  }
  let obj = parsed as Record<string, unknown>;
  const utf8 = () => JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  let value = Object.prototype.hasOwnProperty.call(obj, 'model') ? obj.model : undefined;
  if (latin1 && typeof value === 'string' && NON_ASCII.test(value)) {
    obj = utf8();
    value = obj.model;
  }
  const model = requireModel(value);
  return {
    model,
    rewrite(id) {
      if (latin1) obj = utf8(); // strings read as latin1 must not be re-encoded
      obj.model = id;
      return Buffer.from(JSON.stringify(obj));
    },
  };
}

function fromMultipart(body: Buffer, contentType: string): BodyModel {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!boundary) throw new GatewayError('invalid_request', 'multipart/form-data without a boundary');
  const delimiter = `--${boundary[1] ?? boundary[2]}`;
  // Part headers are ASCII; latin1 maps bytes 1:1, so string offsets are byte offsets.
  const text = body.toString('latin1');
  const header = /content-disposition:\s*form-data;[^\r\n]*\bname="model"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n/i.exec(text);
  if (!header) requireModel(undefined);
  const start = header!.index + header![0].length;
  const end = text.indexOf(`\r\n${delimiter}`, start);
  if (end < 0) throw new GatewayError('invalid_request', 'The multipart form is truncated');
  const model = requireModel(Buffer.from(text.slice(start, end), 'latin1').toString('utf8'));
  return {
    model,
    rewrite(id) {
      return Buffer.concat([body.subarray(0, start), Buffer.from(id, 'utf8'), body.subarray(end)]);
    },
  };
}

export function readBodyModel(body: Buffer | undefined, contentType: string | undefined): BodyModel {
  if (!body || body.length === 0) {
    throw new GatewayError('invalid_json', 'The request body is empty; expected a JSON object naming a model');
  }
  if (contentType && /^multipart\/form-data/i.test(contentType)) return fromMultipart(body, contentType);
  return fromJson(body);
}

export function describeModel(name: string): string {
  return shown(name);
}
