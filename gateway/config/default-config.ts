// The app's own config file: where it lives on each platform, and the documented default written
// there on first run (docs/configuration.md's defaults, example models left as comments). The desktop app and
// `serve` without --config share it.
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const CONFIG_FILE_NAME = 'gateway.yaml';
/** The folder name under the platform's config home; also the desktop app's userData folder. */
export const APP_DIR_NAME = 'vllm-gateway';

/**
 * The app's config folder, where Electron's app.getPath('appData') + the app name would put it:
 * Linux `$XDG_CONFIG_HOME/vllm-gateway` (else ~/.config), macOS `~/Library/Application Support/vllm-gateway`,
 * Windows `%APPDATA%\vllm-gateway`. A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
 */
export function appConfigDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = os.homedir(),
): string {
  if (platform === 'darwin') return path.posix.join(home, 'Library', 'Application Support', APP_DIR_NAME);
  if (platform === 'win32') return path.win32.join(env.APPDATA || path.win32.join(home, 'AppData', 'Roaming'), APP_DIR_NAME);
  const xdg = env.XDG_CONFIG_HOME;
  return path.posix.join(xdg && path.posix.isAbsolute(xdg) ? xdg : path.posix.join(home, '.config'), APP_DIR_NAME);
}

export const DEFAULT_CONFIG_YAML = `# vLLM Gateway configuration. Every key is documented in docs/configuration.md.
# Edit this file (tray menu → Open config) and restart the app (or \`serve\`) to apply it.
# Unknown keys are an error. \${NAME} reads the environment variable NAME (\${NAME:-default} if unset).

listen:
  host: 127.0.0.1          # loopback only; another host needs auth.apiKeys
  port: 8080
  ollamaPort: null         # 11434 (with Ollama stopped): tools that speak only Ollama's API work unchanged

auth:
  apiKeys: []              # non-empty: clients send "Authorization: Bearer <key>"
  adminToken: auto         # generated once, kept in a 0600 file beside this config
  allowedHosts: []
  allowedOrigins: []

limits:
  maxQueuePerModel: 200
  maxConcurrentPerModel: 50
  queueTimeoutSeconds: 600

gpu:
  probe: auto              # nvidia-smi when found, else the static list below
  reserveGiB: 0.5
  static:
    - { name: "Simulated GPU", totalGiB: 24 }

docker:
  pull: missing            # never | missing | always
  hfCacheDir: ~/.cache/huggingface

defaults:
  ttlSeconds: 1800         # stop a model after 30 minutes without requests; 0 = never

shutdown:
  drainSeconds: 30
  stopModels: true         # stop the models this app started when it quits

models: {}
# Uncomment and adapt, then restart the app. The key is the id clients send as "model".
#
#  qwen2.5-7b:
#    runtime: docker
#    image: vllm/vllm-openai:latest
#    model: Qwen/Qwen2.5-7B-Instruct
#    vramGiB: 20
#    args: ["--max-model-len", "8192"]
#    env: { HF_TOKEN: "\${HF_TOKEN:-}" }
#    aliases: ["qwen"]
#
#  my-local:
#    runtime: process
#    command: ["vllm", "serve", "some/model", "--port", "\${PORT}", "--gpu-memory-utilization", "\${GPU_MEMORY_UTILIZATION}"]
#    vramGiB: 10
`;

/**
 * Writes the default config into `dir` unless a config is there already. Returns its path and
 * whether it was just created. Never overwrites (O_EXCL), mode 0600.
 */
export async function ensureDefaultConfig(dir: string): Promise<{ path: string; created: boolean }> {
  const file = path.join(dir, CONFIG_FILE_NAME);
  await mkdir(dir, { recursive: true });
  try {
    const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await fh.writeFile(DEFAULT_CONFIG_YAML, 'utf8');
    } finally {
      await fh.close();
    }
    return { path: file, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { path: file, created: false };
    throw err;
  }
}
