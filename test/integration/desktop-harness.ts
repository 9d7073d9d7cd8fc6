// Runs a built Electron main process (dist/electron/main.js, or the packaged app's copy) under Node
// with `electron` replaced by test/fixtures/electron-stand-in, in a temporary HOME, and records
// what it did to the stand-in (windows, tray, menus, notifications, exit).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './helpers.js';

export const STAND_IN_REGISTER = fileURLToPath(new URL('../fixtures/electron-stand-in/register.mjs', import.meta.url));

export interface StandInEvent {
  ev: string;
  [key: string]: unknown;
}

export interface DesktopApp {
  child: ChildProcess;
  events: StandInEvent[];
  /** stdout and stderr together. */
  output(): string;
  send(cmd: Record<string, unknown>): void;
  /** The first event matching, waiting for it. */
  waitFor(pred: (e: StandInEvent) => boolean, what: string, timeoutMs?: number): Promise<StandInEvent>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last tray tooltip set. */
  tooltip(): string;
  /** The gateway's URL, from the tray tooltip. */
  url(): Promise<string>;
  stop(): Promise<void>;
}

export interface DesktopHome {
  home: string;
  configDir: string;
  remove(): void;
}

/** A temporary HOME whose config folder holds `yaml` as gateway.yaml (XDG_CONFIG_HOME=$HOME/.config). */
export function desktopHome(yaml?: string): DesktopHome {
  const home = mkdtempSync(path.join(tmpdir(), 'vllm-gw-desktop-'));
  const configDir = path.join(home, '.config', 'vllm-gateway');
  mkdirSync(configDir, { recursive: true });
  if (yaml !== undefined) writeFileSync(path.join(configDir, 'gateway.yaml'), yaml, { mode: 0o600 });
  return { home, configDir, remove: () => rmSync(home, { recursive: true, force: true }) };
}

export function launchDesktop(opts: {
  mainJs: string;
  appPath: string;
  home: string;
  argv?: string[];
  env?: Record<string, string>;
  packaged?: boolean;
}): DesktopApp {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: opts.home,
    XDG_CONFIG_HOME: path.join(opts.home, '.config'),
    STAND_IN_APP_PATH: opts.appPath,
    STAND_IN_PACKAGED: opts.packaged ? '1' : '0',
    SHELL: '/bin/bash',
    ...opts.env,
  };
  delete env.DBUS_SESSION_BUS_ADDRESS;
  if (opts.env?.DBUS_SESSION_BUS_ADDRESS) env.DBUS_SESSION_BUS_ADDRESS = opts.env.DBUS_SESSION_BUS_ADDRESS;
  const child = spawn(process.execPath, ['--import', STAND_IN_REGISTER, opts.mainJs, ...(opts.argv ?? [])], {
    cwd: opts.appPath,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const events: StandInEvent[] = [];
  let out = '';
  child.on('message', (m: StandInEvent) => events.push(m));
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const tooltip = () => String([...events].reverse().find((e) => e.ev === 'tray.setToolTip')?.tooltip ?? '');
  const app: DesktopApp = {
    child,
    events,
    output: () => out,
    send: (cmd) => child.send(cmd),
    // Generous: the machines running the suite can be loaded many times over (a wait, not a bound).
    async waitFor(pred, what, timeoutMs = 45_000) {
      return waitUntil(
        () => events.find(pred),
        timeoutMs,
        `${what}; events so far: ${events.map((e) => e.ev).join(', ')}\n--- output:\n${out.slice(-2000)}`,
      );
    },
    exited,
    tooltip,
    async url() {
      await app.waitFor((e) => e.ev === 'tray.setToolTip' && /http:\/\/127\.0\.0\.1:\d+/.test(String(e.tooltip)), 'a tooltip with the URL');
      return /http:\/\/127\.0\.0\.1:\d+/.exec(tooltip())![0];
    },
    /**
     * After a failed test: quit through the app's own path (SIGTERM, and a second one to cut the
     * drain) so the model servers it started (detached process groups) go too; SIGKILL last.
     */
    async stop() {
      const running = () => child.exitCode === null && child.signalCode === null;
      const exitWithin = (ms: number) =>
        Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
      if (!running()) return;
      child.kill('SIGTERM');
      if (await exitWithin(1000)) return;
      child.kill('SIGTERM');
      if (await exitWithin(30_000)) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  return app;
}
