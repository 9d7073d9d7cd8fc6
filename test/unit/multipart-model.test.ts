// The model of a multipart form, read as vLLM (Starlette + python-multipart) reads it, and an alias
// rewrite that touches only that field's bytes.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../gateway/errors.js';
import { readMultipartModel } from '../../gateway/http/multipart-model.js';

const CT = 'multipart/form-data; boundary=XyZ';
const WAV = Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a, 0x2d]);

/** A form from parts: [headers, content] (content a string or bytes). */
function form(parts: Array<[string, string | Buffer]>, boundary = 'XyZ'): Buffer {
  const out: Buffer[] = [];
  for (const [headers, content] of parts) {
    out.push(
      Buffer.from(`--${boundary}\r\n${headers}\r\n\r\n`),
      typeof content === 'string' ? Buffer.from(content) : content,
      Buffer.from('\r\n'),
    );
  }
  out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}
const file = (content: string | Buffer = WAV): [string, string | Buffer] => [
  'Content-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav',
  content,
];
const field = (name: string, value: string, disposition = `form-data; name="${name}"`): [string, string] => [
  `Content-Disposition: ${disposition}`,
  value,
];

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as GatewayError).code;
  }
  return 'no error';
}

describe('multipart forms', () => {
  it('reads the model field and rewrites only its bytes', async () => {
    const body = form([file(), field('model', 'alias'), field('language', 'en')]);
    const b = await readMultipartModel(body, CT);
    expect(b.model).toBe('alias');
    expect(b.rewrite('the-id').equals(form([file(), field('model', 'the-id'), field('language', 'en')]))).toBe(true);
  });

  it('a field sent twice: the last one, as Starlette reads it, is routed and rewritten', async () => {
    const body = form([field('model', 'other'), file(), field('model', 'alias')]);
    const b = await readMultipartModel(body, CT);
    expect(b.model).toBe('alias');
    expect(b.rewrite('id').equals(form([field('model', 'other'), file(), field('model', 'id')]))).toBe(true);
  });

  it('a fake part header inside the file data is file data: neither routed by nor rewritten', async () => {
    const trap = Buffer.from('RIFF\r\nContent-Disposition: form-data; name="model"\r\n\r\nsome-alias\r\nmore');
    const body = form([file(trap), field('model', 'alias')]);
    const b = await readMultipartModel(body, CT);
    expect(b.model).toBe('alias');
    expect(b.rewrite('id').equals(form([file(trap), field('model', 'id')]))).toBe(true);
    // Without a real model field, the trap does not count.
    expect(await codeOf(readMultipartModel(form([file(trap)]), CT))).toBe('model_required');
  });

  it('parameter names are case-insensitive, field names are not, and x-name is another parameter', async () => {
    expect((await readMultipartModel(form([file(), field('', 'alias', 'form-data; NAME="model"')]), CT)).model).toBe('alias');
    expect(await codeOf(readMultipartModel(form([file(), field('', 'alias', 'form-data; name="MODEL"')]), CT))).toBe('model_required');
    expect(await codeOf(readMultipartModel(form([file(), field('', 'alias', 'form-data; x-name="model"; name="m2"')]), CT))).toBe(
      'model_required',
    );
  });

  it('a "model" part with a filename is a file, not the model', async () => {
    const body = form([['Content-Disposition: form-data; name="model"; filename="m.txt"', 'alias']]);
    expect(await codeOf(readMultipartModel(body, CT))).toBe('model_required');
  });

  it('a quoted boundary works; a UTF-8 model name survives', async () => {
    const b = await readMultipartModel(form([file(), field('model', 'modèle')], 'a b'), 'multipart/form-data; boundary="a b"');
    expect(b.model).toBe('modèle');
  });

  it('no boundary, a truncated form, or an empty body → invalid_request', async () => {
    expect(await codeOf(readMultipartModel(form([field('model', 'm')]), 'multipart/form-data'))).toBe('invalid_request');
    const whole = form([file(), field('model', 'm')]);
    expect(await codeOf(readMultipartModel(whole.subarray(0, whole.length - 30), CT))).toBe('invalid_request');
    expect(await codeOf(readMultipartModel(Buffer.alloc(0), CT))).toBe('invalid_request');
  });
});
