// Which credentials a host's ssh connection offers; keys made by the real ssh-keygen.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveSshAuth } from '../../gateway/hosts/ssh-auth.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vgw-ssh-auth-'));
const keygen = (file: string, pass = '') =>
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', pass, '-f', file], { stdio: 'ignore' });
const plain = path.join(dir, 'plain');
const locked = path.join(dir, 'locked');
keygen(plain);
keygen(locked, 'secret phrase');
const home = path.join(dir, 'home');
mkdirSync(path.join(home, '.ssh'), { recursive: true });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ssh credentials', () => {
  it('uses sshKeyPath alone when given (no agent)', async () => {
    const a = await resolveSshAuth({ sshKeyPath: plain, env: { SSH_AUTH_SOCK: '/agent' }, home });
    expect(a.agent).toBeUndefined();
    expect(a.privateKey?.toString()).toContain('OPENSSH PRIVATE KEY');
    expect(a.describe).toBe(`key ${plain}`);
  });

  it('says what is wrong with sshKeyPath: missing, passphrase, not a key', async () => {
    await expect(resolveSshAuth({ sshKeyPath: path.join(dir, 'nope'), home })).rejects.toThrow(
      /cannot read the ssh key .*nope: no such file/,
    );
    await expect(resolveSshAuth({ sshKeyPath: locked, home })).rejects.toThrow(
      /protected by a passphrase: load it into an ssh agent \(`ssh-add/,
    );
    await expect(resolveSshAuth({ sshKeyPath: `${plain}.pub`, home })).rejects.toThrow(/is not a private key/);
  });

  it('defaults to the agent, then ~/.ssh/id_ed25519, skipping a key it cannot use', async () => {
    const agentOnly = await resolveSshAuth({ env: { SSH_AUTH_SOCK: '/run/agent.sock' }, home });
    expect(agentOnly).toMatchObject({ agent: '/run/agent.sock', describe: 'the ssh agent (SSH_AUTH_SOCK)' });
    expect(agentOnly.privateKey).toBeUndefined();

    execFileSync('cp', [locked, path.join(home, '.ssh', 'id_ed25519')]);
    execFileSync('cp', [plain, path.join(home, '.ssh', 'id_rsa')]);
    const both = await resolveSshAuth({ env: { SSH_AUTH_SOCK: '/run/agent.sock' }, home });
    expect(both.describe).toBe(`the ssh agent (SSH_AUTH_SOCK) and key ${path.join(home, '.ssh', 'id_rsa')}`);
  });

  it('fails with the fix when nothing is offered', async () => {
    await expect(resolveSshAuth({ env: {}, home: path.join(dir, 'empty') })).rejects.toThrow(
      /no ssh credentials: .*set the host's sshKeyPath/,
    );
  });
});
