// The admin token (docs/configuration.md, auth.adminToken): a literal from the config, or "auto": generated
// once and kept in `<config>.admin-token` (mode 0600) beside the config file.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import type { GatewayConfig } from './types.js';

export interface AdminToken {
  token: string;
  /** The file it is kept in; null for a literal token or one held in memory only. */
  file: string | null;
  /** True when it was made now (no usable file existed). */
  generated: boolean;
}

/** What a token file must hold to be reused (32 random bytes in base64url are 43 characters). */
const USABLE = /^[A-Za-z0-9_-]{32,512}$/;

export async function resolveAdminToken(config: Pick<GatewayConfig, 'auth' | 'sourcePath'>): Promise<AdminToken> {
  if (config.auth.adminToken !== 'auto') return { token: config.auth.adminToken, file: null, generated: false };
  if (config.sourcePath === null) return { token: newToken(), file: null, generated: true };

  const file = `${config.sourcePath}.admin-token`;
  const existing = await readTokenFile(file);
  if (existing !== null) return { token: existing, file, generated: false };

  const token = newToken();
  // Written whole to a private temporary file, then renamed over: never readable by others, never
  // half-written, and a symlink planted at `file` is replaced rather than followed.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, `${token}\n`, { mode: 0o600, flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { token, file, generated: true };
}

/** The token in `file`, its permissions tightened to 0600; null when missing, not a plain file, or not a token. */
async function readTokenFile(file: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return null;
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) await handle.chmod(0o600);
    const token = (await handle.readFile('utf8')).trim();
    return USABLE.test(token) ? token : null;
  } catch {
    return null;
  } finally {
    await handle.close();
  }
}

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison that does not leak whether the lengths differ. */
export function tokensEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}
