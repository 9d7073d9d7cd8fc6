// Reading `model` from a JSON request body and rewriting an alias in place.

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

describe('alias rewrite in place (docs/http-api.md: only `model` changes)', () => {
  const rewrite = (body: Buffer, id: string) => readBodyModel(body, 'application/json').rewrite(id);

  it('keeps big integers, "1.0", spacing and invalid UTF-8 of the other members byte for byte', () => {
    const head = Buffer.from('{"model":"x-alias", "seed":12345678901234567891,"temperature":1.0,"content":"caf');
    const tail = Buffer.from('"}');
    const body = Buffer.concat([head, Buffer.from([0xe9, 0x20, 0xff]), tail]);
    const out = rewrite(body, 'the-id');
    const expected = Buffer.concat([
      Buffer.from('{"model":"the-id", "seed":12345678901234567891,"temperature":1.0,"content":"caf'),
      Buffer.from([0xe9, 0x20, 0xff]),
      tail,
    ]);
    expect(out.equals(expected), out.toString('latin1')).toBe(true);
  });

  it('rewrites the last top-level "model" (the one JSON.parse and vLLM read), never a nested one', () => {
    const body = Buffer.from(
      '{"model":"first","messages":[{"model":"alias","content":"\\"model\\": \\"alias\\""}],"model" : "alias" ,"n":1}',
    );
    expect(readBodyModel(body, 'application/json').model).toBe('alias');
    expect(rewrite(body, 'id').toString()).toBe(
      '{"model":"first","messages":[{"model":"alias","content":"\\"model\\": \\"alias\\""}],"model" : "id" ,"n":1}',
    );
  });

  it('finds an escaped key spelling ("mo\\u0064el") and keeps a large body (read as latin1) intact', () => {
    const pad = 'é'.repeat(40_000); // > 64 KiB: the latin1 reading path
    const body = Buffer.from(`{"messages":"${pad}","mo\\u0064el":"alias"}`);
    expect(readBodyModel(body, 'application/json').model).toBe('alias');
    expect(rewrite(body, 'id').equals(Buffer.from(`{"messages":"${pad}","mo\\u0064el":"id"}`))).toBe(true);
  });
});

describe('describeModel', () => {
  it('shortens long names for messages', () => {
    expect(describeModel('m')).toBe('m');
    expect(describeModel('x'.repeat(500)).length).toBeLessThanOrEqual(81);
  });
});
