// A desktop launch (menu, autostart, Finder, Dock) gets the session's environment, not the one the
// user's shell sets up: on macOS PATH is /usr/bin:/bin:/usr/sbin:/sbin, and a venv's `vllm`,
// ~/.local/bin or HF_TOKEN from ~/.zshrc are missing. The login shell's environment is read once at
// start (shell-env runs `$SHELL -ilc env`) and merged under the app's own: what the app already has
// wins, PATH becomes the shell's entries followed by the app's others.
import { shellEnv } from 'shell-env';

export interface ResolvedEnv {
  env: Record<string, string>;
  /** Where PATH came from, for logs and start-failure messages. */
  pathSource: string;
  /** Variables the login shell added. */
  added: string[];
}

/** Shell bookkeeping that describes the probe's shell, not the user's environment. */
const SHELL_LOCAL = new Set([
  '_',
  'PWD',
  'OLDPWD',
  'SHLVL',
  'PS1',
  'PS2',
  'DISABLE_AUTO_UPDATE',
  'ZSH_TMUX_AUTOSTARTED',
  'ZSH_TMUX_AUTOSTART',
]);

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

export function mergeLoginShellEnv(current: NodeJS.ProcessEnv, shell: Record<string, string> | null, shellName: string): ResolvedEnv {
  const env = definedOnly(current);
  if (!shell) return { env, pathSource: `the app's own environment (the login shell ${shellName} could not be read)`, added: [] };
  const added: string[] = [];
  for (const [k, v] of Object.entries(shell)) {
    if (k === 'PATH' || SHELL_LOCAL.has(k) || k in env) continue;
    env[k] = v;
    added.push(k);
  }
  const entries = (p: string | undefined) => (p ?? '').split(':').filter(Boolean);
  const merged = [...new Set([...entries(shell.PATH), ...entries(current.PATH)])];
  if (merged.length) env.PATH = merged.join(':');
  return { env, pathSource: `the login shell (${shellName}) and the app's environment`, added };
}

export interface ResolveOptions {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  /** A shell whose rc files hang must not hold the app's start-up for long. */
  timeoutMs?: number;
  read?: () => Promise<Record<string, string>>;
}

export async function resolveLoginShellEnv(opts: ResolveOptions): Promise<ResolvedEnv> {
  const shellName = opts.env.SHELL || 'the default shell';
  // Windows GUI apps get the user's full environment from Explorer; there is no login shell to ask.
  if (opts.platform === 'win32') return { env: definedOnly(opts.env), pathSource: "the app's own environment", added: [] };
  const read = opts.read ?? (() => shellEnv());
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), opts.timeoutMs ?? 5000);
  });
  const shell = await Promise.race([read().catch(() => null), timeout]).finally(() => clearTimeout(timer));
  // shell-env answers with the process's own env when every shell failed: nothing to merge then.
  return mergeLoginShellEnv(opts.env, shell && shell !== opts.env ? shell : null, shellName);
}
