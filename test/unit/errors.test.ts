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

  it("keeps the scheduler's messages as clients saw them", () => {
    expect(errors.queueFull(4).message).toBe('The queue for this model is full (4 waiting); try again shortly.');
    expect(errors.coolingDown('m', 9, 'exit 1', { retryAfter: 9 })).toMatchObject({
      message: 'm failed to start and is cooling down for 9 s: exit 1',
      retryAfter: 9,
      status: 503,
    });
    expect(errors.queueTimeout('m', 30).message).toBe('Waited 30 s for m without getting a slot');
    expect(errors.memoryWaitTimedOut('m', 30, 'a is busy').message).toBe('Waited 30 s for GPU memory for m: a is busy');
    expect(errors.noGpuMemoryNobodyWaits('m', null).message).toBe('Not enough GPU memory for m, and no request waits for it any more');
    expect(errors.noGpuMemoryNobodyWaits('m', 'a is busy').message).toBe(
      'Not enough GPU memory for m, and no request waits for it any more: a is busy',
    );
    expect(errors.notReadyToSleep('m', 'ready', true).message).toBe('m is ready (yielding): only a ready model can be put to sleep');
    expect(errors.didNotSleep('m', null).message).toBe('m did not go to sleep; its server was stopped');
    expect(errors.busyForUnload('m', 1, 2).message).toBe('m has 1 request(s) in flight and 2 queued; unload with ?force=true to cut them');
    const cause = new Error('spawn ENOENT');
    expect(errors.startThrew('spawn ENOENT', { cause })).toMatchObject({ message: 'The model failed to start: spawn ENOENT', cause });
  });

  it('is the only place an error is made: no source file outside gateway/errors.ts writes new GatewayError(', () => {
    const sites: string[] = [];
    for (const dir of ['gateway', 'electron', 'common', 'renderer']) {
      for (const e of readdirSync(path.join(REPO, dir), { withFileTypes: true, recursive: true })) {
        if (!e.isFile() || !/\.tsx?$/.test(e.name)) continue;
        const file = path.relative(REPO, path.join(e.parentPath, e.name));
        if (file === path.join('gateway', 'errors.ts')) continue;
        const text = readFileSync(path.join(REPO, file), 'utf8');
        if (text.includes('new GatewayError(')) sites.push(file);
      }
    }
    expect(sites).toEqual([]);
  });
});
