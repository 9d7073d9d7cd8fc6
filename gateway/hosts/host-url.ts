// A host's `docker` value (docs/hosts.md): `ssh://[user@]addr[:port]` (the engine reached through
// one ssh connection) or `tcp://addr:port` (the engine's own TLS port, with `tls`). Pure.

import os from 'node:os';
import type { HostTarget } from '../config/types.js';

export type { HostTarget };

/** Parses `docker`, or returns a message saying what is wrong with it. */
export function parseHostUrl(value: string, defaultUser: () => string = () => os.userInfo().username): HostTarget | { error: string } {
  const m = /^([a-z]+):\/\/(.*)$/i.exec(value.trim());
  if (!m) return { error: `"${value}" is not a URL: use ssh://user@addr[:port] or tcp://addr:2376` };
  const scheme = m[1].toLowerCase();
  if (scheme !== 'ssh' && scheme !== 'tcp') {
    return { error: `"${value}": the scheme must be ssh:// or tcp:// (unix:// is the local machine's \`docker\` key)` };
  }
  let url: URL;
  try {
    url = new URL(`${scheme === 'ssh' ? 'ssh' : 'http'}://${m[2]}`);
  } catch {
    return { error: `"${value}" is not a valid ${scheme}:// URL` };
  }
  if (!url.hostname) return { error: `"${value}" names no address` };
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash) {
    return { error: `"${value}": only ${scheme}://${scheme === 'ssh' ? '[user@]' : ''}addr[:port] is allowed (no path)` };
  }
  if (url.password) return { error: `"${value}": put no password in the URL (ssh uses keys: sshKeyPath or the ssh agent)` };
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (scheme === 'ssh') {
    const port = url.port ? Number(url.port) : 22;
    return { kind: 'ssh', user: url.username ? decodeURIComponent(url.username) : defaultUser(), host, port };
  }
  if (url.username) return { error: `"${value}": a tcp:// host takes no user (it authenticates with \`tls\`)` };
  if (!url.port) return { error: `"${value}": give the engine's port (Docker's TLS port is 2376)` };
  return { kind: 'tcp', host, port: Number(url.port) };
}
