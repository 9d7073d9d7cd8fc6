// The dashboard's routes on a real gateway (gateway/http/ui-route.ts): /favicon.ico answers with
// the icon the built page links, and like /ui it needs no API key (a browser sends none for it).

import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../gateway/index.js';
import { linkedIcon, registerUi } from '../../gateway/http/ui-route.js';
import { agent, ADMIN_TOKEN, baseYaml, memoryLogger, parseYaml } from './helpers.js';

const ICON = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'); // a PNG's first bytes: what is sent is what is on disk
let dist: string;
let gw: Gateway;
let url: string;

beforeAll(async () => {
  // A built dashboard as vite writes it: index.html linking a hashed icon under assets/.
  dist = await mkdtemp(path.join(tmpdir(), 'vgw-ui-'));
  await mkdir(path.join(dist, 'assets'));
  await writeFile(path.join(dist, 'assets', 'icon-256-AbC123.png'), ICON);
  await writeFile(
    path.join(dist, 'index.html'),
    '<!doctype html><html><head><link rel="icon" type="image/png" href="./assets/icon-256-AbC123.png" /></head><body></body></html>',
  );
  const yaml = baseYaml('models: {}').replace(/^auth: .*$/m, `auth: { adminToken: ${ADMIN_TOKEN}, apiKeys: ["sk-ui-test-key"] }`);
  gw = await createGateway(parseYaml(yaml), {
    logger: memoryLogger([]),
    gpuProbe: null,
    runtimes: {},
    registerUi: (app) => registerUi(app, { distDir: dist }),
  });
  url = await gw.listen();
});
afterAll(async () => {
  await gw?.close();
  await rm(dist, { recursive: true, force: true });
});

const get = async (p: string, headers: Record<string, string> = {}) => {
  const res = await request(url + p, { headers, dispatcher: agent });
  return { status: res.statusCode, type: String(res.headers['content-type']), body: Buffer.from(await res.body.arrayBuffer()) };
};

describe('/favicon.ico', () => {
  it('is the icon the dashboard links, without an API key', async () => {
    const r = await get('/favicon.ico');
    expect(r.status).toBe(200);
    expect(r.type).toBe('image/png');
    expect(r.body.equals(ICON)).toBe(true);
  });

  it('the API routes still need the key (only the page and its icon are exempt)', async () => {
    expect((await get('/v1/models')).status).toBe(401);
    expect((await get('/ui')).status).toBe(200);
  });
});

describe('linkedIcon', () => {
  it('reads the icon link whatever the attribute order and quotes; null without one', () => {
    expect(linkedIcon('<link href="./assets/a.png" rel="icon">')).toBe('assets/a.png');
    expect(linkedIcon("<link rel='shortcut icon' href='./x.ico'>")).toBe('x.ico');
    expect(linkedIcon('<link rel="stylesheet" href="./assets/a.css"><link rel="icon" href="./i.png">')).toBe('i.png');
    expect(linkedIcon('<link rel="stylesheet" href="./assets/a.css">')).toBeNull();
    expect(linkedIcon('<link rel="icon" href="https://elsewhere.example/i.png">')).toBeNull();
  });
});
