// The `model` of a multipart form (/v1/audio/transcriptions), read the way vLLM reads it. vLLM
// parses forms with Starlette + python-multipart: a part is a file when its Content-Disposition has
// a `filename` parameter, parameter names are case-insensitive (`NAME=` is `name=`), field names are
// not (`"MODEL"` is another field), and when a field repeats `form.get()` returns the LAST value.
// The form is parsed with @fastify/busboy (a streaming parser), configured to draw the same
// file/field line; an alias rewrite replaces only the bytes of that one part's value.

import { Busboy } from '@fastify/busboy';
import { errors } from '../errors.js';
import { requireModel, type BodyModel } from './body-model.js';

/** Starlette's defaults (`max_fields`, `max_files`) and a field size no model id comes near. */
const LIMITS = { fields: 1000, files: 1000, parts: 2000, fieldSize: 1024 * 1024 } as const;

interface Part {
  name: string;
  /** A text field's value; null for a file. */
  value: string | null;
  truncated: boolean;
}

const invalid = (why: string, cause?: unknown) => errors.multipartUnreadable(why, { cause });

function parseParts(body: Buffer, contentType: string): Promise<Part[]> {
  return new Promise((resolve, reject) => {
    let bb: InstanceType<typeof Busboy>;
    try {
      bb = new Busboy({
        headers: { 'content-type': contentType },
        limits: LIMITS,
        // Starlette: a part with a filename (even an empty one) is a file, any other a field.
        isPartAFile: (_name, _type, filename) => filename !== undefined,
      });
    } catch (err) {
      reject(invalid((err as Error).message, err));
      return;
    }
    const parts: Part[] = [];
    let limited = false;
    bb.on('field', (name, value, _nameTruncated, valueTruncated) => parts.push({ name, value, truncated: valueTruncated }));
    bb.on('file', (name, stream) => {
      parts.push({ name, value: null, truncated: false });
      stream.resume();
    });
    const onLimit = () => (limited = true);
    bb.on('partsLimit', onLimit);
    bb.on('filesLimit', onLimit);
    bb.on('fieldsLimit', onLimit);
    bb.on('error', (err: Error) => reject(invalid(err.message, err)));
    bb.on('finish', () => (limited ? reject(invalid(`more than ${LIMITS.fields} fields or files`)) : resolve(parts)));
    bb.end(body);
  });
}

/** The boundary of a multipart Content-Type, as a delimiter `--boundary`. */
function delimiterOf(contentType: string): Buffer | null {
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? Buffer.from(`--${m[1] ?? m[2]}`, 'latin1') : null;
}

/**
 * The byte spans of every part's content (RFC 2046 §5.1.1: a part ends at CRLF + delimiter, its
 * headers end at the first empty line), in order. Null when the body does not have that shape.
 */
export function partContentSpans(body: Buffer, delimiter: Buffer): Array<{ start: number; end: number }> | null {
  const crlfDelimiter = Buffer.concat([Buffer.from('\r\n'), delimiter]);
  let d = body.subarray(0, delimiter.length).equals(delimiter) ? 0 : body.indexOf(crlfDelimiter);
  if (d < 0) return null;
  if (d > 0) d += 2;
  const spans: Array<{ start: number; end: number }> = [];
  for (;;) {
    const after = d + delimiter.length;
    if (body[after] === 0x2d && body[after + 1] === 0x2d) return spans; // the close delimiter
    const lineEnd = body.indexOf('\r\n', after);
    if (lineEnd < 0) return null;
    const partStart = lineEnd + 2;
    const next = body.indexOf(crlfDelimiter, partStart - 2);
    if (next < 0) return null;
    const headersEnd = body[partStart] === 0x0d && body[partStart + 1] === 0x0a ? partStart - 2 : body.indexOf('\r\n\r\n', partStart);
    if (headersEnd < 0 || headersEnd > next) return null;
    spans.push({ start: headersEnd + 4, end: next });
    d = next + 2;
  }
}

export async function readMultipartModel(body: Buffer | undefined, contentType: string): Promise<BodyModel> {
  if (!body || body.length === 0) throw invalid('the body is empty');
  const parts = await parseParts(body, contentType);
  let index = -1;
  for (let i = 0; i < parts.length; i++) if (parts[i].name === 'model') index = i;
  const part = index < 0 ? undefined : parts[index];
  if (part && part.value === null) {
    throw errors.modelFieldIsFile();
  }
  if (part?.truncated) throw invalid('the "model" field is too long');
  const model = requireModel(part?.value);
  return {
    model,
    rewrite(id) {
      const delimiter = delimiterOf(contentType);
      const spans = delimiter ? partContentSpans(body, delimiter) : null;
      // The spans must be the parts busboy saw, one for one, and the chosen one must hold the value
      // busboy read: otherwise the form is too odd to edit safely, and it is refused, not guessed at.
      if (!spans || spans.length !== parts.length) throw invalid('its parts cannot be told apart');
      const span = spans[index];
      if (body.toString('utf8', span.start, span.end) !== model) throw invalid('the "model" field is encoded');
      return Buffer.concat([body.subarray(0, span.start), Buffer.from(id, 'utf8'), body.subarray(span.end)]);
    },
  };
}
