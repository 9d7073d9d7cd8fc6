// A proxied request's class from its headers (request-priority.ts), with and without key classes:
// the shortcut for the usual request (no X-Priority, no key classes) gives what the full rule gives.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../gateway/errors.js';
import { createPriorityOf } from '../../gateway/http/request-priority.js';
import type { Priority } from '../../gateway/scheduler/priority.js';

const of = (defaultPriority: Priority | undefined, keyPriorities: { key: string; priority: Priority }[] = []) =>
  createPriorityOf({
    auth: { keyPriorities } as never,
    scheduling: defaultPriority === undefined ? undefined : { defaultPriority },
  });

describe('a request’s class from its headers', () => {
  it('no X-Priority and no key classes: scheduling.defaultPriority (interactive when unset)', () => {
    expect(of('batch')({})).toBe('batch');
    expect(of('interactive')({ authorization: 'Bearer k1' })).toBe('interactive');
    expect(of(undefined)({})).toBe('interactive');
  });

  it('X-Priority wins over the default and over the key’s class', () => {
    expect(of('batch')({ 'x-priority': ' Interactive ' })).toBe('interactive');
    expect(of('interactive')({ 'x-priority': 'batch' })).toBe('batch');
    expect(of('interactive', [{ key: 'k1', priority: 'batch' }])({ 'x-priority': 'interactive', authorization: 'Bearer k1' })).toBe(
      'interactive',
    );
    // Empty is absent.
    expect(of('batch')({ 'x-priority': '' })).toBe('batch');
  });

  it('a key’s class (Bearer or x-api-key), else the default', () => {
    const priorityOf = of('interactive', [{ key: 'k1', priority: 'batch' }]);
    expect(priorityOf({ authorization: 'Bearer k1' })).toBe('batch');
    expect(priorityOf({ 'x-api-key': 'k1' })).toBe('batch');
    expect(priorityOf({ authorization: 'Bearer other' })).toBe('interactive');
    expect(priorityOf({})).toBe('interactive');
  });

  it('a bad X-Priority is refused with or without key classes', () => {
    for (const priorityOf of [of('interactive'), of('interactive', [{ key: 'k1', priority: 'batch' }])]) {
      let err: unknown;
      try {
        priorityOf({ 'x-priority': 'bulk' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('invalid_request');
    }
  });
});
