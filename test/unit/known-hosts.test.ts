// known_hosts as OpenSSH reads it. The hashed lines and the fingerprint below were made by
// OpenSSH itself (`ssh-keygen -H`, `ssh-keygen -l`) for the key KEY_A, so a parser that hashes
// names differently, or mis-reads `[host]:port`, fails here.
import { describe, expect, it } from 'vitest';
import { entryMatches, fingerprint, knownKeyTypes, parseKnownHosts, verifyHostKey } from '../../gateway/hosts/known-hosts.js';

const KEY_A = 'AAAAC3NzaC1lZDI1NTE5AAAAIHHCWaqUYA6S21cRs0equ65GyAa2Szt79HxhHSGaBGHm';
const KEY_B = 'AAAAC3NzaC1lZDI1NTE5AAAAIE+B3Z3kAzxcDhZM4oOk8Ek7sWWSM3mMwN0qN10hwreN';
const blob = (b64: string) => Buffer.from(b64, 'base64');
// `10.0.0.5 ssh-ed25519 KEY_A` and `[10.0.0.5]:2222 ssh-ed25519 KEY_A`, hashed by ssh-keygen -H.
const HASHED_22 = `|1|DnPM+qmSiRn/B/HkBgIm66gYVF0=|E/XBJiT5hI/jaY6sdR8N+z7Haqs= ssh-ed25519 ${KEY_A}`;
const HASHED_2222 = `|1|YXdwhfWCSgCiQsqa8SW1JmWJLW8=|fuNwhVSvt2CwPrgy7TIU02zld3o= ssh-ed25519 ${KEY_A}`;

describe('known_hosts', () => {
  it('computes the fingerprint ssh-keygen -l prints', () => {
    expect(fingerprint(blob(KEY_A))).toBe('SHA256:t4sv+flUkUtciCcblx8d7Ak/4prfreNv0mgE7Z46DCo');
  });

  it('matches hashed names as OpenSSH writes them, port 22 and [host]:port', () => {
    const [e22, e2222] = parseKnownHosts(`${HASHED_22}\n${HASHED_2222}\n`);
    expect(entryMatches(e22, '10.0.0.5', 22)).toBe(true);
    expect(entryMatches(e22, '10.0.0.5', 2222)).toBe(false);
    expect(entryMatches(e22, '10.0.0.6', 22)).toBe(false);
    expect(entryMatches(e2222, '10.0.0.5', 2222)).toBe(true);
    expect(entryMatches(e2222, '10.0.0.5', 22)).toBe(false);
  });

  it('reads plain patterns: lists, [host]:port, wildcards, negation, case', () => {
    const [e] = parseKnownHosts(`gpu-a,10.0.0.5,[gpu-b]:2222,*.lab.example,!bad.lab.example ssh-ed25519 ${KEY_A} comment here`);
    expect(entryMatches(e, 'gpu-a', 22)).toBe(true);
    expect(entryMatches(e, 'GPU-A', 22)).toBe(true);
    expect(entryMatches(e, '10.0.0.5', 22)).toBe(true);
    expect(entryMatches(e, 'gpu-b', 2222)).toBe(true);
    expect(entryMatches(e, 'gpu-b', 22)).toBe(false);
    expect(entryMatches(e, 'box1.lab.example', 22)).toBe(true);
    expect(entryMatches(e, 'bad.lab.example', 22)).toBe(false);
    expect(entryMatches(e, '10.0.0.50', 22)).toBe(false);
  });

  it('skips comments, blank and broken lines, and @cert-authority lines', () => {
    const entries = parseKnownHosts(
      ['# comment', '', 'onlyonefield', `@cert-authority *.example ssh-ed25519 ${KEY_B}`, `host ssh-ed25519 ${KEY_A}`].join('\n'),
    );
    expect(entries.map((e) => e.line)).toEqual([5]);
  });

  it('accepts the known key, refuses a changed, unknown or revoked one with the fingerprint and the fix', () => {
    const entries = parseKnownHosts(`${HASHED_22}\n@revoked * ssh-ed25519 ${KEY_B}\n`);
    expect(verifyHostKey(entries, '10.0.0.5', 22, blob(KEY_A), '/kh')).toEqual({ ok: true, line: 1 });

    const changed = parseKnownHosts(HASHED_22);
    const v = verifyHostKey(changed, '10.0.0.5', 22, blob(KEY_B), '/kh');
    expect(v).toMatchObject({ ok: false, reason: 'changed' });
    if (!v.ok) {
      expect(v.message).toContain(fingerprint(blob(KEY_B)));
      expect(v.message).toContain('ssh-keygen -R 10.0.0.5 -f /kh');
    }

    const u = verifyHostKey(changed, '10.0.0.9', 2200, blob(KEY_A), '/kh');
    expect(u).toMatchObject({ ok: false, reason: 'unknown' });
    if (!u.ok) expect(u.message).toContain('[10.0.0.9]:2200');

    expect(verifyHostKey(entries, '10.0.0.5', 22, blob(KEY_B), '/kh')).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('lists the key types known for a host', () => {
    const entries = parseKnownHosts(`${HASHED_22}\n10.0.0.5 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ\nother ecdsa-sha2-nistp256 AAAA\n`);
    expect(knownKeyTypes(entries, '10.0.0.5', 22)).toEqual(['ssh-ed25519', 'ssh-rsa']);
  });
});
