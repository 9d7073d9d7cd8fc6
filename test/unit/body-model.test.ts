// Reading `model` from a request body and rewriting an alias (JSON and multipart).

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../gateway/errors.js';
import { describeModel, readBodyModel } from '../../gateway/http/body-model.js';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as GatewayError).code;
  }
  return 'no error';
};

describe('JSON bodies', () => {
  it('reads the model', () => {
    expect(readBodyModel(Buffer.from('{"model":"m","x":1}'), 'application/json').model).toBe('m');
    expect(readBodyModel(Buffer.from('{"model":"m"}'), undefined).model).toBe('m');
    expect(readBodyModel(Buffer.from('{"model":"m"}'), 'text/plain').model).toBe('m');
  });

  it('empty or malformed → invalid_json', () => {
    expect(codeOf(() => readBodyModel(Buffer.alloc(0), 'application/json'))).toBe('invalid_json');
    expect(codeOf(() => readBodyModel(undefined, 'application/json'))).toBe('invalid_json');
    expect(codeOf(() => readBodyModel(Buffer.from('{'), 'application/json'))).toBe('invalid_json');
    expect(codeOf(() => readBodyModel(Buffer.from([0xff, 0xfe]), 'application/json'))).toBe('invalid_json');
  });

  it('model missing or not a non-empty string, or not an object → model_required', () => {
    for (const body of [
      '{}',
      '{"model":null}',
      '{"model":1}',
      '{"model":["m"]}',
      '{"model":""}',
      '[]',
      '"m"',
      'null',
      '{"__proto__":{"model":"m"}}',
    ]) {
      expect(
        codeOf(() => readBodyModel(Buffer.from(body), 'application/json')),
        body,
      ).toBe('model_required');
    }
  });

  it('rewrite replaces only the model', () => {
    const b = readBodyModel(Buffer.from('{"model":"alias","messages":[{"role":"user","content":"é"}],"n":1}'), 'application/json');
    expect(JSON.parse(b.rewrite('id').toString('utf8'))).toEqual({ model: 'id', messages: [{ role: 'user', content: 'é' }], n: 1 });
  });
});

describe('multipart bodies', () => {
  const form = (model: string | null, boundary = 'XyZ') =>
    Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
      Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a]),
      Buffer.from(model === null ? '' : `\r\n--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${model}`),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);

  it('reads the model field and rewrites it, the rest byte for byte', () => {
    const body = form('alias');
    const b = readBodyModel(body, 'multipart/form-data; boundary=XyZ');
    expect(b.model).toBe('alias');
    const out = b.rewrite('the-id');
    expect(out.equals(Buffer.from(body.toString('latin1').replace('\r\n\r\nalias\r\n', '\r\n\r\nthe-id\r\n'), 'latin1'))).toBe(true);
  });

  it('a quoted boundary works; a UTF-8 model name survives', () => {
    const b = readBodyModel(form('modèle', 'a b'), 'multipart/form-data; boundary="a b"');
    expect(b.model).toBe('modèle');
  });

  it('without a model field → model_required; without a boundary → invalid_request', () => {
    expect(codeOf(() => readBodyModel(form(null), 'multipart/form-data; boundary=XyZ'))).toBe('model_required');
    expect(codeOf(() => readBodyModel(form('m'), 'multipart/form-data'))).toBe('invalid_request');
  });
});

describe('describeModel', () => {
  it('shortens long names for messages', () => {
    expect(describeModel('m')).toBe('m');
    expect(describeModel('x'.repeat(500)).length).toBeLessThanOrEqual(81);
  });
});
