#!/usr/bin/env node
// `npm run dist` (after `npm run build`): electron-builder on build/electron-builder.yml, packing the
// Electron binary that `npm ci` installed (node_modules/electron/dist, or ELECTRON_OVERRIDE_DIST_PATH,
// the electron package's own override) instead of downloading a second copy. Two failures that
// electron-builder reports only as a stack trace are turned into what to do:
//  - Electron's binary is not installed (ELECTRON_SKIP_BINARY_DOWNLOAD=1, or its postinstall did not
//    run): checked before anything is packed;
//  - a download failed (the AppImage and .deb tools come from github.com on first use and are cached
//    in ~/.cache/electron-builder).
// Extra arguments pass through: `npm run dist -- --linux --dir`, `-- -c.electronDist=<dir>`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const APP_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILDER = path.join(APP_ROOT, 'node_modules/electron-builder/cli.js');

export const MISSING_ELECTRON = [
  "vLLM Gateway: npm run dist needs Electron's binary, and it is not installed.",
  'npm ci leaves it out when ELECTRON_SKIP_BINARY_DOWNLOAD=1 is set, or when install scripts are',
  "blocked (package.json's allowScripts lists electron). Fetch it with:",
  '  node node_modules/electron/install.js',
  'or point electron-builder at an unpacked Electron of the same version:',
  '  npm run dist -- -c.electronDist=/path/to/electron-dist',
].join('\n');

export const DOWNLOAD_FAILED = [
  'vLLM Gateway: electron-builder could not download a tool it packs with (see the error above).',
  'On first use it fetches the AppImage and .deb tools from github.com and caches them in',
  '~/.cache/electron-builder. Connect once, or set ELECTRON_BUILDER_BINARIES_MIRROR to a mirror;',
  '`npm run dist -- --linux --dir` (the unpacked app) needs no download.',
].join('\n');

const NETWORK_ERROR = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH)\b/;

/** The directory holding the installed Electron binary, or null when there is none. */
export function installedElectronDist() {
  try {
    const bin = createRequire(import.meta.url)('electron'); // the package's main returns the binary's path
    return typeof bin === 'string' && existsSync(bin) ? path.dirname(bin) : null;
  } catch {
    return null;
  }
}

async function main() {
  const args = process.argv.slice(2);
  const given = args.some((a) => /^-c\.electronDist=|^--config\.electronDist=/.test(a));
  const builderArgs = ['--config', 'build/electron-builder.yml', ...args];
  if (!given) {
    const dist = installedElectronDist();
    if (!dist) {
      process.stderr.write(`${MISSING_ELECTRON}\n`);
      return 1;
    }
    builderArgs.push(`-c.electronDist=${dist}`);
  }
  const child = spawn(process.execPath, [BUILDER, ...builderArgs], { cwd: APP_ROOT, stdio: ['inherit', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (out) => (chunk) => {
    out.write(chunk);
    tail = (tail + chunk.toString()).slice(-65536);
  };
  child.stdout.on('data', keep(process.stdout));
  child.stderr.on('data', keep(process.stderr));
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  const code = await new Promise((resolve) => child.once('close', (c) => resolve(c ?? 1)));
  if (code !== 0 && NETWORK_ERROR.test(tail)) process.stderr.write(`${DOWNLOAD_FAILED}\n`);
  return code;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
