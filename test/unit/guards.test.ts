// Host, Origin, credential and request-id rules (pure functions behind the onRequest hook).

import { describe, expect, it } from 'vitest';
import { allowedHostNames, anySecretEquals, bearer, hostName, ownOrigins, saneRequestId } from '../../gateway/http/guards.js';

describe('hostName', () => {
  it('drops the port, keeps IPv6 brackets, lower-cases', () => {
    expect(hostName('LocalHost:8080')).toBe('localhost');
    expect(hostName('127.0.0.1')).toBe('127.0.0.1');
    expect(hostName('[::1]:8080')).toBe('[::1]');
    expect(hostName(' gw.example.org ')).toBe('gw.example.org');
  });
});

describe('allowedHostNames', () => {
  it('has the loopback names, the listen host and the extras', () => {
    const set = allowedHostNames('0.0.0.0', ['GW.example.org:443', '[fe80::1]']);
    for (const h of ['localhost', '127.0.0.1', '[::1]', '0.0.0.0', 'gw.example.org', '[fe80::1]']) expect(set.has(h), h).toBe(true);
    expect(set.has('evil.example')).toBe(false);
    expect(allowedHostNames('::1', []).has('[::1]')).toBe(true);
  });
});

describe('ownOrigins', () => {
  it('are the loopback origins and the configured host on the port', () => {
    expect([...ownOrigins('10.0.0.5', 8080)].sort()).toEqual([
      'http://10.0.0.5:8080',
      'http://127.0.0.1:8080',
      'http://[::1]:8080',
      'http://localhost:8080',
    ]);
    expect(ownOrigins('::', 80).has('http://[::]:80')).toBe(true);
  });
});

describe('bearer', () => {
  it('reads "Bearer <token>" only', () => {
    expect(bearer('Bearer abc')).toBe('abc');
    expect(bearer('bearer   abc  ')).toBe('abc');
    expect(bearer('Basic abc')).toBeNull();
    expect(bearer('abc')).toBeNull();
    expect(bearer('Bearer a b')).toBeNull();
    expect(bearer(undefined)).toBeNull();
    expect(bearer('Bearer ')).toBeNull();
  });
});

describe('anySecretEquals', () => {
  it('matches one of the secrets exactly', () => {
    expect(anySecretEquals('k2', ['k1', 'k2'])).toBe(true);
    expect(anySecretEquals('k', ['k1', 'k2'])).toBe(false);
    expect(anySecretEquals('k1x', ['k1'])).toBe(false);
    expect(anySecretEquals(null, ['k1'])).toBe(false);
    expect(anySecretEquals('', [])).toBe(false);
  });
});

describe('saneRequestId', () => {
  it('accepts 1–128 characters of [A-Za-z0-9._-], nothing else', () => {
    expect(saneRequestId('abc-DEF_1.2')).toBe('abc-DEF_1.2');
    expect(saneRequestId('a'.repeat(128))).toBe('a'.repeat(128));
    for (const bad of ['a'.repeat(129), '', 'a b', 'a/b', 'a\nb', 'ü', '<x>', undefined, ['a'], 42])
      expect(saneRequestId(bad), String(bad)).toBeNull();
  });
});
