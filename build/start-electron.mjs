#!/usr/bin/env node
// `npm start`: runs Electron on this app, as `electron .` would, and turns two start-up failures that
// Electron reports only as a crash or a stack trace into what to do:
//  - Electron's binary is missing (installed with ELECTRON_SKIP_BINARY_DOWNLOAD=1, or its postinstall
//    did not run);
//  - Ubuntu 23.10+ / 24.04: AppArmor restricts unprivileged user namespaces, so Chromium falls back to
//    its SUID sandbox helper, which an npm install leaves unconfigured, and aborts with "The SUID
//    sandbox helper binary was found, but is not configured correctly" (electron/electron#42510).
//    Packaged builds are not affected: the .deb's installer sets the helper up.
// Signals: Ctrl-C reaches Electron directly (same process group); SIGTERM sent to this launcher is
// passed on. SIGINT is not passed on, or one Ctrl-C would arrive twice and cut the app's drain short.
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const APP_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USERNS_SYSCTL = '/proc/sys/kernel/apparmor_restrict_unprivileged_userns';

/** Chromium's fatal messages when no sandbox can be set up. */
export const SANDBOX_FAILURE = /SUID sandbox helper binary was found, but is not configured correctly|No usable sandbox!/;

export function sandboxAdvice(electronBinary) {
  const helper = path.join(path.dirname(electronBinary), 'chrome-sandbox');
  return [
    '',
    'vLLM Gateway: Electron could not start its sandbox.',
    'This system restricts unprivileged user namespaces (Ubuntu 23.10+ / 24.04 AppArmor), which',
    "Chromium's sandbox needs, and the SUID helper that an npm install ships is not set up. Fix one:",
    `  1. Set up the helper (as root, once per Electron install):`,
    `       sudo chown root:root '${helper}' && sudo chmod 4755 '${helper}'`,
    `  2. Or allow user namespaces for this Electron binary with an AppArmor profile,`,
    `     /etc/apparmor.d/vllm-gateway-dev:`,
    `       abi <abi/4.0>,`,
    `       include <tunables/global>`,
    `       profile vllm-gateway-dev "${electronBinary}" flags=(unconfined) {`,
    `         userns,`,
    `       }`,
    `     then load it: sudo apparmor_parser -r /etc/apparmor.d/vllm-gateway-dev`,
    `  3. Or lift the restriction for the whole system (weakens a protection):`,
    `       sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`,
    'The packaged app (npm run dist: .deb) sets the helper up when it is installed.',
    'Running without the sandbox (--no-sandbox) is not offered: the dashboard renders in it.',
  ].join('\n');
}

/**
 * Before launching: whether the sandbox is bound to fail (Linux, namespaces restricted, helper not
 * root-owned setuid). A warning, not a refusal: a distribution's own AppArmor profile may allow it.
 */
export function predictSandboxFailure({ platform, electronBinary, readText = (f) => readFileSync(f, 'utf8'), statFile = statSync }) {
  if (platform !== 'linux') return false;
  let restricted;
  try {
    restricted = readText(USERNS_SYSCTL).trim() === '1';
  } catch {
    return false; // no such sysctl: no AppArmor restriction
  }
  if (!restricted) return false;
  try {
    const st = statFile(path.join(path.dirname(electronBinary), 'chrome-sandbox'));
    return !(st.uid === 0 && (st.mode & 0o4000) !== 0);
  } catch {
    return true;
  }
}

export const MISSING_BINARY = [
  "vLLM Gateway: Electron's binary is not installed, so the desktop app cannot start.",
  'npm ci leaves it out when ELECTRON_SKIP_BINARY_DOWNLOAD=1 is set, or when install scripts are',
  "blocked (package.json's allowScripts lists electron). Fetch it with:",
  '  node node_modules/electron/install.js',
  'The headless gateway needs no Electron: npm run gateway -- serve',
].join('\n');

function electronBinary() {
  try {
    return createRequire(import.meta.url)('electron'); // the package's main returns the binary's path
  } catch {
    return null;
  }
}

async function main() {
  const bin = electronBinary();
  if (!bin) {
    process.stderr.write(`${MISSING_BINARY}\n`);
    return 1;
  }
  if (predictSandboxFailure({ platform: process.platform, electronBinary: bin })) {
    process.stderr.write('vLLM Gateway: unprivileged user namespaces are restricted here; Electron may fail to start its sandbox.\n');
  }
  const child = spawn(bin, [APP_ROOT, ...process.argv.slice(2)], { stdio: ['inherit', 'inherit', 'pipe'], windowsHide: false });
  let tail = '';
  child.stderr.on('data', (chunk) => {
    process.stderr.write(chunk);
    tail = (tail + chunk.toString()).slice(-65536);
  });
  process.on('SIGINT', () => {}); // the terminal already sent it to Electron
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  const [code, signal, missing] = await new Promise((resolve) => {
    child.once('error', (err) => resolve([null, null, err.code === 'ENOENT']));
    child.once('close', (c, s) => resolve([c, s, false]));
  });
  if (missing) {
    process.stderr.write(`${MISSING_BINARY}\n(looked for ${bin})\n`);
    return 1;
  }
  if (SANDBOX_FAILURE.test(tail)) {
    process.stderr.write(`${sandboxAdvice(bin)}\n`);
    return 1;
  }
  if (signal) {
    process.stderr.write(`Electron exited on ${signal}\n`);
    return 1;
  }
  return code ?? 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
