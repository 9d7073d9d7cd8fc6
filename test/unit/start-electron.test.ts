// `npm start`'s launcher (build/start-electron.mjs) with a stand-in Electron binary
// (ELECTRON_OVERRIDE_DIST_PATH, the electron package's own override): arguments and exit code pass
// through, the AppArmor SUID-sandbox abort gets its fixes, a missing binary says how to fetch it.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain .mjs script without types
import { predictSandboxFailure, sandboxAdvice } from '../../build/start-electron.mjs';
import { REPO_ROOT } from '../integration/helpers.js';

const LAUNCHER = path.join(REPO_ROOT, 'build/start-electron.mjs');
const tmp = mkdtempSync(path.join(tmpdir(), 'vllm-gw-launcher-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function standIn(name: string, script: string): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'electron'), `#!/bin/sh\n${script}\n`);
  chmodSync(path.join(dir, 'electron'), 0o755);
  return dir;
}

function launch(env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [LAUNCHER, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

// Chromium's message, as electron/electron#42510 quotes it, then the abort (SIGTRAP).
const SUID_FATAL =
  "[7411:0601/120000.000000:FATAL:setuid_sandbox_host.cc(158)] The SUID sandbox helper binary was found, but is not configured correctly. Rather than run without sandboxing I'm aborting now. You need to make sure that $0-sandbox is owned by root and has mode 4755.";

describe('npm start launcher', () => {
  it('runs Electron on the app folder with the arguments, and exits with its code', async () => {
    const dir = standIn('ok', 'echo "args: $*"; exit 3');
    const r = await launch({ ELECTRON_OVERRIDE_DIST_PATH: dir }, ['--hidden']);
    expect(r.out).toBe(`args: ${REPO_ROOT.replace(/\/$/, '')} --hidden\n`);
    expect(r.code).toBe(3);
  });

  it('explains the AppArmor SUID sandbox abort with the fixes, naming this helper', async () => {
    const dir = standIn('suid', `echo "${SUID_FATAL.replace(/"/g, '\\"')}" >&2; kill -TRAP $$`);
    const r = await launch({ ELECTRON_OVERRIDE_DIST_PATH: dir });
    expect(r.code).toBe(1);
    expect(r.err).toContain('The SUID sandbox helper binary was found, but is not configured correctly'); // passed through
    expect(r.err).toContain('vLLM Gateway: Electron could not start its sandbox.');
    expect(r.err).toContain(
      `sudo chown root:root '${path.join(dir, 'chrome-sandbox')}' && sudo chmod 4755 '${path.join(dir, 'chrome-sandbox')}'`,
    );
    expect(r.err).toContain('sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0');
  });

  it('says how to fetch a missing Electron binary', async () => {
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty);
    const r = await launch({ ELECTRON_OVERRIDE_DIST_PATH: empty });
    expect(r.code).toBe(1);
    expect(r.err).toContain("Electron's binary is not installed");
    expect(r.err).toContain('node node_modules/electron/install.js');
  });

  it('predicts the failure from the sysctl and the helper’s owner and mode', () => {
    const bin = '/x/node_modules/electron/dist/electron';
    const restricted = (text: string) => () => text;
    const stat = (uid: number, mode: number) => () => ({ uid, mode });
    expect(
      predictSandboxFailure({ platform: 'linux', electronBinary: bin, readText: restricted('1\n'), statFile: stat(1000, 0o100755) }),
    ).toBe(true);
    expect(
      predictSandboxFailure({ platform: 'linux', electronBinary: bin, readText: restricted('1\n'), statFile: stat(0, 0o104755) }),
    ).toBe(false);
    expect(
      predictSandboxFailure({ platform: 'linux', electronBinary: bin, readText: restricted('0\n'), statFile: stat(1000, 0o100755) }),
    ).toBe(false);
    const noSysctl = () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    };
    expect(predictSandboxFailure({ platform: 'linux', electronBinary: bin, readText: noSysctl, statFile: stat(1000, 0o755) })).toBe(false);
    expect(predictSandboxFailure({ platform: 'darwin', electronBinary: bin, readText: restricted('1'), statFile: stat(1000, 0o755) })).toBe(
      false,
    );
    expect(sandboxAdvice(bin)).toContain(`profile vllm-gateway-dev "${bin}" flags=(unconfined) {`);
  });
});
