// `npm run dist` as far as this machine can go: electron-builder packs the app for real (`--dir`,
// the unpacked Linux app) around a stand-in Electron binary, and the result is checked: layout,
// fuses flipped in the binary, what app.asar holds (and leaves out), the ESM-only dependencies
// loading from the packed node_modules, and the packed main.js run under Node with the stand-in
// `electron` module through start, tray, window and quit with a model running.
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import asar from '@electron/asar';
import { FuseV1Options, getCurrentFuseWire } from '@electron/fuses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desktopHome, launchDesktop, type DesktopApp } from '../integration/desktop-harness.js';
import { alive, baseYaml, chat, http, post, processModel, REPO_ROOT } from '../integration/helpers.js';
import { writeStandInElectronDist } from './stand-in-electron-dist.js';

const run = promisify(execFile);
const work = mkdtempSync(path.join(tmpdir(), 'vllm-gw-packaged-'));
const appDir = path.join(work, 'out', 'linux-unpacked');
const asarPath = path.join(appDir, 'resources', 'app.asar');
const extracted = path.join(work, 'extracted');
let files: string[] = [];

/** `npm run dist`'s packing step (package.json: `npm run build && node build/dist.mjs`). */
function dist(args: string[], env: NodeJS.ProcessEnv) {
  return run(process.execPath, [path.join(REPO_ROOT, 'build/dist.mjs'), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1', CSC_IDENTITY_AUTO_DISCOVERY: 'false', ...env },
    maxBuffer: 16 << 20,
  });
}

beforeAll(async () => {
  if (!existsSync(path.join(REPO_ROOT, 'dist/electron/main.js')))
    throw new Error('dist/ is missing: `npm test` builds first (npm run build)');
  const electronDist = writeStandInElectronDist(path.join(work, 'electron-dist'));
  try {
    // The installed Electron is found the way `npm start` finds it (the electron package's override
    // variable points it at the stand-in); no electron-builder option is given beyond the output.
    await dist(['--linux', '--dir', `-c.directories.output=${path.join(work, 'out')}`], {
      ELECTRON_OVERRIDE_DIST_PATH: electronDist,
    });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`npm run dist failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, { cause: err });
  }
  files = asar.listPackage(asarPath, { isPack: false }).map((f) => f.split(path.sep).join('/'));
  asar.extractAll(asarPath, extracted);
}, 240_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packaged app (electron-builder --dir)', () => {
  it('is the executable named in build/electron-builder.yml, with app.asar beside Electron’s files', () => {
    accessSync(path.join(appDir, 'vllm-gateway'), constants.X_OK);
    expect(existsSync(path.join(appDir, 'electron'))).toBe(false); // renamed
    expect(existsSync(asarPath)).toBe(true);
    expect(existsSync(path.join(appDir, 'locales', 'en-US.pak'))).toBe(true);
  });

  it('has the fuses flipped in the binary: no Node mode, no NODE_OPTIONS or --inspect, asar only and checked', async () => {
    const wire = await getCurrentFuseWire(path.join(appDir, 'vllm-gateway'));
    const on = (o: FuseV1Options) => String.fromCharCode(wire[o] as number);
    expect(on(FuseV1Options.RunAsNode)).toBe('0');
    expect(on(FuseV1Options.EnableCookieEncryption)).toBe('1');
    expect(on(FuseV1Options.EnableNodeOptionsEnvironmentVariable)).toBe('0');
    expect(on(FuseV1Options.EnableNodeCliInspectArguments)).toBe('0');
    expect(on(FuseV1Options.EnableEmbeddedAsarIntegrityValidation)).toBe('1');
    expect(on(FuseV1Options.OnlyLoadAppFromAsar)).toBe('1');
    expect(on(FuseV1Options.LoadBrowserProcessSpecificV8Snapshot)).toBe('0');
    expect(on(FuseV1Options.GrantFileProtocolExtraPrivileges)).toBe('1'); // the dashboard loads from file://
  });

  it('holds main, preload, renderer, icons and the production dependencies, and nothing of the dev tree', () => {
    for (const f of [
      '/package.json',
      '/dist/electron/main.js',
      '/dist/electron/preload.cjs',
      '/dist/renderer/index.html',
      '/dist/gateway/index.js',
      '/dist/common/ipc-contract.js', // main.js imports what it shares with the dashboard from here
      '/dist/common/unload-asking-first.js',
      '/assets/icon.png',
      '/node_modules/fastify/package.json',
      '/node_modules/shell-env/package.json',
      '/node_modules/cookie/package.json',
      '/node_modules/content-disposition/package.json',
    ]) {
      expect(files, f).toContain(f);
    }
    for (const state of ['idle', 'busy', 'loading', 'error']) {
      for (const icon of [
        `tray-${state}.png`,
        `tray-${state}@2x.png`,
        `tray-${state}Template.png`,
        `tray-${state}Template@2x.png`,
        `tray-${state}.ico`,
      ]) {
        expect(files).toContain(`/assets/${icon}`);
      }
    }
    expect(files.some((f) => f.startsWith('/dist/renderer/assets/') && f.endsWith('.js'))).toBe(true);
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files).not.toContain('/dist/electron/preload.js'); // the unbundled preload cannot run sandboxed
    for (const dev of [
      '/test',
      '/electron',
      '/gateway',
      '/node_modules/electron',
      '/node_modules/vitest',
      '/node_modules/electron-builder',
    ]) {
      expect(
        files.some((f) => f === dev || f.startsWith(`${dev}/`)),
        dev,
      ).toBe(false);
    }
  });

  it('carries the app’s identity in its package.json', async () => {
    const pkg = JSON.parse(asar.extractFile(asarPath, 'package.json').toString('utf8')) as Record<string, unknown>;
    expect(pkg).toMatchObject({
      productName: 'vLLM Gateway',
      desktopName: 'vllm-gateway.desktop',
      main: 'dist/electron/main.js',
      type: 'module',
    });
    expect(pkg.author).toMatchObject({ name: expect.any(String), email: expect.stringContaining('@') });
    expect(pkg.homepage).toMatch(/^https:\/\//);
  });

  it('loads the ESM-only dependencies (cookie, content-disposition) from the packed node_modules', async () => {
    const script = `
      const { createRequire } = require('node:module');
      const r = createRequire(${JSON.stringify(path.join(extracted, 'package.json'))});
      const cookie = r('cookie');
      const disposition = r('content-disposition');
      const fastify = r('fastify');
      console.log(JSON.stringify({
        cookie: cookie.parseCookie('a=b; c=d'),
        disposition: disposition.create('my notes.txt'),
        from: [r.resolve('cookie'), r.resolve('content-disposition')],
        fastify: typeof fastify,
      }));`;
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: extracted });
    const out = JSON.parse(stdout) as { cookie: unknown; disposition: string; from: string[]; fastify: string };
    expect(out.cookie).toEqual({ a: 'b', c: 'd' });
    expect(out.disposition).toBe('attachment; filename="my notes.txt"');
    expect(out.fastify).toBe('function');
    for (const f of out.from) expect(f.startsWith(path.join(extracted, 'node_modules'))).toBe(true);
  });

  it('packs ssh2 without cpu-features (never built, optional) and ssh2 loads from the packed tree', async () => {
    expect(files).toContain('/node_modules/ssh2/package.json');
    expect(files.filter((f) => f.startsWith('/node_modules/cpu-features'))).toEqual([]);
    const script = `
      const { createRequire } = require('node:module');
      const r = createRequire(${JSON.stringify(path.join(extracted, 'package.json'))});
      const ssh2 = r('ssh2');
      console.log(JSON.stringify({ client: typeof ssh2.Client, from: r.resolve('ssh2') }));`;
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: extracted });
    const out = JSON.parse(stdout) as { client: string; from: string };
    expect(out.client).toBe('function');
    expect(out.from.startsWith(path.join(extracted, 'node_modules'))).toBe(true);
  });

  it('runs its main.js under Node with the stand-in: tray, window without DevTools, a model, and Quit stops it', async () => {
    const home = desktopHome(baseYaml(`models:\n${processModel('p')}`));
    let app: DesktopApp | null = null;
    try {
      app = launchDesktop({
        mainJs: path.join(extracted, 'dist/electron/main.js'),
        appPath: extracted,
        home: home.home,
        argv: ['--tray'],
        packaged: true,
      });
      const tray = await app.waitFor((e) => e.ev === 'tray.create', 'the tray');
      expect(tray).toMatchObject({ image: path.join(extracted, 'assets/tray-loading.png'), exists: true });
      const created = await app.waitFor((e) => e.ev === 'window.create', 'the window');
      expect(created.webPreferences).toMatchObject({ devTools: false, preload: path.join(extracted, 'dist/electron/preload.cjs') });
      const load = await app.waitFor((e) => e.ev === 'window.load', 'the page');
      expect(load.url).toBe(`file://${path.join(extracted, 'dist/renderer/index.html')}`);
      const url = await app.url();
      expect((await post(url, '/v1/chat/completions', chat('p'))).status).toBe(200);
      // The dashboard is served from the packed renderer too.
      expect((await http(url, '/ui')).status).toBe(200);
      const endpoint = ((await http(url, '/gateway/status')).json as { models: Array<{ endpoint: string }> }).models[0]!.endpoint;
      const pid = (await http(endpoint, '/mock/stats')).json.pid as number;
      app.send({ cmd: 'click', menu: 'app', id: 'quit' });
      expect(await app.exited).toEqual({ code: 0, signal: null });
      expect(alive(pid)).toBe(false);
    } finally {
      await app?.stop();
      home.remove();
    }
  }, 120_000);
});

describe('npm run dist where it cannot finish', () => {
  it('says how to fetch Electron when its binary is not installed, before packing anything', async () => {
    const empty = mkdtempSync(path.join(work, 'no-electron-'));
    const out = path.join(work, 'out-missing');
    const err = (await dist(['--linux', '--dir', `-c.directories.output=${out}`], { ELECTRON_OVERRIDE_DIST_PATH: empty }).then(
      () => null,
      (e: unknown) => e,
    )) as (Error & { code?: number; stderr?: string }) | null;
    expect(err?.code).toBe(1);
    expect(err?.stderr).toContain("npm run dist needs Electron's binary, and it is not installed");
    expect(err?.stderr).toContain('node node_modules/electron/install.js');
    expect(existsSync(out)).toBe(false);
  });

  it('says what it could not download when the .deb tools are neither cached nor reachable', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p)); // closed again: connections to it are refused
      });
    });
    const err = (await dist(['--linux', 'deb', `-c.directories.output=${path.join(work, 'out-deb')}`], {
      ELECTRON_OVERRIDE_DIST_PATH: writeStandInElectronDist(path.join(work, 'electron-dist-deb')),
      ELECTRON_BUILDER_CACHE: mkdtempSync(path.join(work, 'builder-cache-')),
      ELECTRON_BUILDER_BINARIES_MIRROR: `http://127.0.0.1:${port}/`,
      ELECTRON_BUILDER_BINARIES_ALLOW_HTTP: 'true',
    }).then(
      () => null,
      (e: unknown) => e,
    )) as (Error & { code?: number; stdout?: string; stderr?: string }) | null;
    expect(err?.code).toBe(1);
    expect(`${err?.stdout}${err?.stderr}`).toMatch(new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    expect(err?.stderr).toContain('electron-builder could not download a tool it packs with');
  }, 240_000);
});
