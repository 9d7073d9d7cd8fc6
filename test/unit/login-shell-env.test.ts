// A desktop launch's environment gets the login shell's variables and PATH (what the app has wins),
// read by a real bash from a temporary HOME's profile; a shell that hangs does not hold start-up.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeLoginShellEnv, resolveLoginShellEnv } from '../../electron/login-shell-env.js';

const home = mkdtempSync(path.join(tmpdir(), 'vllm-gw-shell-env-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('merging the login shell environment', () => {
  it('adds what is missing, keeps what the app has, puts the shell PATH first without duplicates', () => {
    const r = mergeLoginShellEnv(
      { PATH: '/usr/bin:/bin', HF_TOKEN: 'from-app', HOME: '/h' },
      { PATH: '/h/.local/bin:/usr/bin', HF_TOKEN: 'from-shell', VLLM_CACHE: '/big', SHLVL: '2', PWD: '/h' },
      '/bin/zsh',
    );
    expect(r.env).toEqual({ PATH: '/h/.local/bin:/usr/bin:/bin', HF_TOKEN: 'from-app', HOME: '/h', VLLM_CACHE: '/big' });
    expect(r.added).toEqual(['VLLM_CACHE']);
    expect(r.pathSource).toBe("the login shell (/bin/zsh) and the app's environment");
  });

  it('says so when the shell could not be read', () => {
    const r = mergeLoginShellEnv({ PATH: '/usr/bin' }, null, '/bin/fish');
    expect(r.env).toEqual({ PATH: '/usr/bin' });
    expect(r.pathSource).toBe("the app's own environment (the login shell /bin/fish could not be read)");
  });
});

describe('reading it', () => {
  it('runs the real login shell with the user’s profile', async () => {
    writeFileSync(path.join(home, '.bash_profile'), 'export PATH="$HOME/venv/bin:$PATH"\nexport GW_PROFILE_ONLY=yes\n');
    const saved = { HOME: process.env.HOME, SHELL: process.env.SHELL };
    process.env.HOME = home;
    process.env.SHELL = '/bin/bash';
    try {
      const env = { PATH: '/usr/bin:/bin', HOME: home, SHELL: '/bin/bash' };
      const r = await resolveLoginShellEnv({ platform: 'linux', env, timeoutMs: 20_000 });
      expect(r.env.GW_PROFILE_ONLY).toBe('yes');
      expect(r.env.PATH!.split(':')[0]).toBe(path.join(home, 'venv/bin'));
      expect(r.pathSource).toBe("the login shell (/bin/bash) and the app's environment");
    } finally {
      process.env.HOME = saved.HOME;
      process.env.SHELL = saved.SHELL;
    }
  });

  it('gives up on a shell that does not answer, and leaves Windows alone', async () => {
    const env = { PATH: '/usr/bin', SHELL: '/bin/slow' };
    const r = await resolveLoginShellEnv({ platform: 'darwin', env, timeoutMs: 50, read: () => new Promise(() => undefined) });
    expect(r.env).toEqual(env);
    expect(r.pathSource).toContain('could not be read');
    let asked = false;
    const w = await resolveLoginShellEnv({ platform: 'win32', env: { Path: 'C:\\x' }, read: async () => ((asked = true), {}) });
    expect(asked).toBe(false);
    expect(w.env).toEqual({ Path: 'C:\\x' });
  });
});
