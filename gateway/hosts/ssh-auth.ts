// Which credentials a host's ssh connection offers (docs/hosts.md "Authentication"):
//  - `sshKeyPath` set: that key only (as `ssh -i KEY -o IdentitiesOnly=yes`);
//  - else the ssh agent at SSH_AUTH_SOCK, plus the first of ~/.ssh/id_ed25519, ~/.ssh/id_rsa that exists.

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
// ssh2 is CommonJS: Node's ESM loader gives it as one default export.
import ssh2 from 'ssh2';

const { utils } = ssh2;

export interface SshAuth {
  privateKey?: Buffer;
  agent?: string;
  /** What is offered, for messages: "key /home/me/.ssh/id_ed25519", "the ssh agent (SSH_AUTH_SOCK)". */
  describe: string;
}

export class SshAuthError extends Error {
  override name = 'SshAuthError';
}

export interface ResolveAuthOptions {
  sshKeyPath?: string | null;
  env?: NodeJS.ProcessEnv;
  home?: string;
  read?: (file: string) => Promise<Buffer>;
}

async function loadKey(file: string, read: (f: string) => Promise<Buffer>): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await read(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SshAuthError(`cannot read the ssh key ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`, {
      cause: err,
    });
  }
  const parsed = utils.parseKey(data);
  if (parsed instanceof Error) {
    const encrypted = /passphrase|encrypted/i.test(parsed.message);
    throw new SshAuthError(
      encrypted
        ? `the ssh key ${file} is protected by a passphrase: load it into an ssh agent (\`ssh-add ${file}\`) and leave sshKeyPath unset`
        : `the ssh key ${file} is not a private key ssh2 can read: ${parsed.message}`,
      { cause: parsed },
    );
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key?.isPrivateKey()) throw new SshAuthError(`the ssh key ${file} is not a private key (a public key? give the file without .pub)`);
  return data;
}

export async function resolveSshAuth(opts: ResolveAuthOptions = {}): Promise<SshAuth> {
  const read = opts.read ?? ((f: string) => readFile(f));
  if (opts.sshKeyPath) return { privateKey: await loadKey(opts.sshKeyPath, read), describe: `key ${opts.sshKeyPath}` };
  const env = opts.env ?? process.env;
  const home = opts.home ?? os.homedir();
  const offered: string[] = [];
  const auth: SshAuth = { describe: '' };
  if (env.SSH_AUTH_SOCK) {
    auth.agent = env.SSH_AUTH_SOCK;
    offered.push('the ssh agent (SSH_AUTH_SOCK)');
  }
  for (const name of ['id_ed25519', 'id_rsa']) {
    const file = path.join(home, '.ssh', name);
    let data: Buffer;
    try {
      data = await read(file);
    } catch {
      continue;
    }
    // A default key that cannot be used (passphrase) is skipped when the agent may hold it.
    const parsed = utils.parseKey(data);
    if (parsed instanceof Error || !(Array.isArray(parsed) ? parsed[0] : parsed)?.isPrivateKey()) continue;
    auth.privateKey = data;
    offered.push(`key ${file}`);
    break;
  }
  if (offered.length === 0) {
    throw new SshAuthError(
      `no ssh credentials: SSH_AUTH_SOCK is not set and neither ${path.join(home, '.ssh', 'id_ed25519')} nor id_rsa exists; ` +
        "set the host's sshKeyPath",
    );
  }
  auth.describe = offered.join(' and ');
  return auth;
}
