// The error catalogue (gateway/errors.ts): every named error takes its status, type and Retry-After
// from its code's entry, its message from its one template, and extras (cause, Retry-After) from
// an optional last argument that never leaks into the message.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, errors, GatewayError } from '../../gateway/errors.js';

const REPO = path.resolve(import.meta.dirname, '../..');

describe('error catalogue', () => {
  it('gives every named error the status, type and Retry-After of its code', () => {
    const names = Object.keys(errors) as (keyof typeof errors)[];
    expect(names.length).toBeGreaterThan(40);
    for (const name of names) {
      const err = (errors[name] as (...a: unknown[]) => GatewayError)('d1', 'd2', 'd3');
      expect(err, name).toBeInstanceOf(GatewayError);
      const entry: { status: number; type: string; retryAfter?: number } = ERROR_CATALOGUE[err.code];
      expect({ name, status: err.status, type: err.type, retryAfter: err.retryAfter }).toEqual({
        name,
        status: entry.status,
        type: entry.type,
        retryAfter: entry.retryAfter,
      });
      expect(err.message.length, name).toBeGreaterThan(0);
    }
  });

  it('fills the template with the details and takes the extras from the last argument only', () => {
    const cause = new Error('socket hang up');
    const host = errors.forbiddenHost('evil.example:80', { cause });
    expect(host.toBody()).toEqual({
      error: {
        message: 'Host "evil.example:80" is not allowed; add it to auth.allowedHosts',
        type: 'permission_error',
        code: 'forbidden_host',
        param: null,
      },
    });
    expect(host.cause).toBe(cause);
    expect(errors.internal({ cause }).message).toBe('Internal gateway error');
    expect(errors.internal({ cause }).cause).toBe(cause);
    expect(errors.upstreamUnreachable(' after 3 attempts', 'ECONNREFUSED').message).toBe(
      'The model server could not be reached after 3 attempts (ECONNREFUSED)',
    );
    expect(errors.upstreamUnreachable('', 'x').cause).toBeUndefined();
    expect(errors.startFailed('no GPU', { retryAfter: 42 }).retryAfter).toBe(42);
    expect(errors.startFailed('no GPU').retryAfter).toBe(ERROR_CATALOGUE.model_start_failed.retryAfter);
  });

  it('puts the field a request error is about in param', () => {
    expect(errors.modelRequired().param).toBe('model');
    expect(errors.historySecondsOutOfRange(300, 'abc').toBody().error).toMatchObject({
      message: 'seconds must be a number of seconds from 1 to 300, not "abc"',
      param: 'seconds',
    });
    expect(errors.bodyTooLarge().param).toBeNull();
  });

  it('writes body_too_large one way', () => {
    expect(errors.bodyTooLarge().toBody().error).toEqual({
      message: 'The request body is larger than limits.maxBodyBytes',
      type: 'invalid_request_error',
      code: 'body_too_large',
      param: null,
    });
  });

  it('is the only place messages are written, outside the scheduler', () => {
    const sites: string[] = [];
    for (const e of readdirSync(path.join(REPO, 'gateway'), { withFileTypes: true, recursive: true })) {
      if (!e.isFile() || !e.name.endsWith('.ts')) continue;
      const file = path.relative(REPO, path.join(e.parentPath, e.name));
      if (file === 'gateway/errors.ts' || file.startsWith('gateway/scheduler/')) continue;
      const text = readFileSync(path.join(REPO, file), 'utf8');
      if (text.includes('new GatewayError(')) sites.push(file);
    }
    expect(sites).toEqual([]);
  });
});
