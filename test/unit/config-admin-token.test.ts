import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveAdminToken, tokensEqual } from '../../gateway/config/admin-token.js';

const TOKEN = /^[A-Za-z0-9_-]{43}$/; // 32 random bytes, base64url
const mode = (file: string) => statSync(file).mode & 0o777;

let dir: string;
let configPath: string;
const auto = () => ({ sourcePath: configPath, auth: { adminToken: 'auto' } }) as Parameters<typeof resolveAdminToken>[0];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vllm-gw-token-'));
  configPath = join(dir, 'gateway.yaml');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('resolveAdminToken', () => {
  it('a literal token is used as is, with no file', async () => {
    const config = { sourcePath: configPath, auth: { adminToken: 'my-literal-token' } } as Parameters<typeof resolveAdminToken>[0];
    expect(await resolveAdminToken(config)).toEqual({ token: 'my-literal-token', file: null, generated: false });
  });

  it('"auto" creates <config>.admin-token with mode 0600, then reuses it', async () => {
    const first = await resolveAdminToken(auto());
    expect(first.file).toBe(`${configPath}.admin-token`);
    expect(first.generated).toBe(true);
    expect(first.token).toMatch(TOKEN);
    expect(readFileSync(first.file!, 'utf8').trim()).toBe(first.token);
    expect(mode(first.file!)).toBe(0o600);

    const second = await resolveAdminToken(auto());
    expect(second).toEqual({ token: first.token, file: first.file, generated: false });
  });

  it('tightens a token file with looser permissions to 0600 and keeps its token', async () => {
    const file = `${configPath}.admin-token`;
    const token = 'A'.repeat(43);
    writeFileSync(file, `${token}\n`);
    chmodSync(file, 0o644);
    expect(await resolveAdminToken(auto())).toEqual({ token, file, generated: false });
    expect(mode(file)).toBe(0o600);
  });

  it('regenerates when the file is empty or holds garbage', async () => {
    const file = `${configPath}.admin-token`;
    for (const content of ['', '\n', 'not a token!', 'short']) {
      writeFileSync(file, content, { mode: 0o600 });
      const result = await resolveAdminToken(auto());
      expect(result.generated, JSON.stringify(content)).toBe(true);
      expect(result.token).toMatch(TOKEN);
      expect(readFileSync(file, 'utf8').trim()).toBe(result.token);
      expect(mode(file)).toBe(0o600);
    }
  });

  it('replaces a symlink instead of following it', async () => {
    const target = join(dir, 'elsewhere');
    writeFileSync(target, 'B'.repeat(43), { mode: 0o644 });
    const file = `${configPath}.admin-token`;
    symlinkSync(target, file);
    const result = await resolveAdminToken(auto());
    expect(result.generated).toBe(true);
    expect(lstatSync(file).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('B'.repeat(43));
    expect(mode(target)).toBe(0o644);
  });

  it('without a sourcePath, a fresh token in memory each time', async () => {
    const config = { sourcePath: null, auth: { adminToken: 'auto' } } as Parameters<typeof resolveAdminToken>[0];
    const a = await resolveAdminToken(config);
    const b = await resolveAdminToken(config);
    expect(a).toMatchObject({ file: null, generated: true });
    expect(a.token).toMatch(TOKEN);
    expect(b.token).not.toBe(a.token);
  });
});

describe('tokensEqual', () => {
  it('compares in constant time, whatever the lengths', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true);
    expect(tokensEqual('abc', 'abd')).toBe(false);
    expect(tokensEqual('abc', 'abcd')).toBe(false);
    expect(tokensEqual('', 'x')).toBe(false);
    expect(tokensEqual('', '')).toBe(true);
    expect(tokensEqual('é', 'e')).toBe(false);
  });
});
