// OpenSSH known_hosts, read the way `ssh` reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"), to
// check the key a remote host presents. Pure: the caller reads the file.
//
// A line is `[@marker] patterns keytype base64-key [comment]`:
//  - patterns: comma-separated; `host` for port 22, `[host]:port` otherwise; `*` and `?` wildcards;
//    a pattern starting with `!` negates (a host matching it is excluded from the line);
//  - or one hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt, name))` where name is written as above;
//  - `@revoked` marks a key that must never be accepted; `@cert-authority` lines describe CAs for
//    host certificates, which are not used here (skipped).

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface KnownHostEntry {
  /** 1-based line number, for messages. */
  line: number;
  marker: 'revoked' | null;
  /** Patterns as written, or null for a hashed entry. */
  patterns: string[] | null;
  hashed: { salt: Buffer; hash: Buffer } | null;
  keyType: string;
  /** The key blob (base64-decoded), as the server sends it during the key exchange. */
  key: Buffer;
}

/** Parses a known_hosts file; lines it cannot read are skipped, as ssh does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i].trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/);
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@cert-authority') continue;
      if (m !== '@revoked') continue;
      marker = 'revoked';
    }
    if (fields.length < 3) continue;
    const [names, keyType, b64] = fields;
    const key = Buffer.from(b64, 'base64');
    if (key.length === 0) continue;
    let hashed: KnownHostEntry['hashed'] = null;
    let patterns: string[] | null = null;
    if (names.startsWith('|1|')) {
      const [salt, hash] = names.slice(3).split('|');
      if (!salt || !hash) continue;
      hashed = { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
    } else {
      patterns = names.split(',').filter(Boolean);
    }
    out.push({ line: i + 1, marker, patterns, hashed, keyType, key });
  }
  return out;
}

/** The name known_hosts files host `host` under: `host` on port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function wildcard(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    'i',
  );
  return re.test(name);
}

/** Whether an entry names `host:port`. */
export function entryMatches(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  if (entry.hashed) {
    const mac = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return mac.length === entry.hashed.hash.length && timingSafeEqual(mac, entry.hashed.hash);
  }
  let matched = false;
  for (const p of entry.patterns ?? []) {
    const negated = p.startsWith('!');
    if (wildcard(negated ? p.slice(1) : p, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** `SHA256:…`, the fingerprint `ssh` and `ssh-keygen -l` print. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

export type HostKeyVerdict = { ok: true; line: number } | { ok: false; reason: 'unknown' | 'changed' | 'revoked'; message: string };

/**
 * Whether `key` is the known key of `host:port`. `file` names the known_hosts file in messages.
 * A key is accepted when an entry for the host holds it; refused when it is revoked, when the
 * host has entries but none with this key (changed), or when the host has none (unknown).
 */
export function verifyHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer, file: string): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const fp = fingerprint(key);
  if (entries.some((e) => e.marker === 'revoked' && e.key.equals(key))) {
    return { ok: false, reason: 'revoked', message: `the host key of ${name} (${fp}) is marked @revoked in ${file}` };
  }
  const forHost = entries.filter((e) => e.marker === null && entryMatches(e, host, port));
  const hit = forHost.find((e) => e.key.equals(key));
  if (hit) return { ok: true, line: hit.line };
  if (forHost.length > 0) {
    return {
      ok: false,
      reason: 'changed',
      message:
        `the host key of ${name} has CHANGED: it presented ${fp}, but ${file} line ${forHost.map((e) => e.line).join(', ')} ` +
        `holds another key. Someone may be intercepting the connection, or the host was reinstalled; if you trust it, ` +
        `remove the old entry (\`ssh-keygen -R ${name} -f ${file}\`) and connect once with \`ssh\` to record the new key`,
    };
  }
  return {
    ok: false,
    reason: 'unknown',
    message:
      `the host key of ${name} (${fp}) is not in ${file}: connect once with \`ssh ${port === 22 ? host : `-p ${port} ${host}`}\` ` +
      `and check the fingerprint, or add it with \`ssh-keyscan ${port === 22 ? '' : `-p ${port} `}${host} >> ${file}\``,
  };
}

/** The key types known for `host:port`, to ask the server for one of them first. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const types = new Set<string>();
  for (const e of entries) if (e.marker === null && entryMatches(e, host, port)) types.add(e.keyType);
  return [...types];
}
