// The app's config file: its folder per platform (shared by the desktop app and `serve` without
// --config), and the documented default written once.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appConfigDir, CONFIG_FILE_NAME, DEFAULT_CONFIG_YAML, ensureDefaultConfig } from '../../gateway/config/default-config.js';
import { parseConfigText } from '../../gateway/config/load-config.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'vllm-gw-default-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('config folder', () => {
  it('is where Electron puts userData for this app on each platform', () => {
    expect(appConfigDir({}, 'linux', '/home/me')).toBe('/home/me/.config/vllm-gateway');
    expect(appConfigDir({ XDG_CONFIG_HOME: '/xdg' }, 'linux', '/home/me')).toBe('/xdg/vllm-gateway');
    expect(appConfigDir({ XDG_CONFIG_HOME: 'relative' }, 'linux', '/home/me')).toBe('/home/me/.config/vllm-gateway');
    expect(appConfigDir({}, 'darwin', '/Users/me')).toBe('/Users/me/Library/Application Support/vllm-gateway');
    expect(appConfigDir({ APPDATA: 'C:\\Users\\me\\AppData\\Roaming' }, 'win32', 'C:\\Users\\me')).toBe(
      'C:\\Users\\me\\AppData\\Roaming\\vllm-gateway',
    );
  });
});

describe('first-run config', () => {
  it('the default config is valid for the gateway', () => {
    const { config, issues } = parseConfigText(DEFAULT_CONFIG_YAML, path.join(tmp, 'gateway.yaml'), {});
    expect(issues).toEqual([]);
    expect(config?.listen).toEqual({ host: '127.0.0.1', port: 8080, ollamaPort: null });
    expect(config?.models).toEqual([]);
  });

  it('is written once, 0600, and never overwrites the user’s file', async () => {
    const dir = path.join(tmp, 'userData');
    const first = await ensureDefaultConfig(dir);
    expect(first).toEqual({ path: path.join(dir, CONFIG_FILE_NAME), created: true });
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    writeFileSync(first.path, 'models: {}\n');
    const again = await ensureDefaultConfig(dir);
    expect(again.created).toBe(false);
    expect(readFileSync(first.path, 'utf8')).toBe('models: {}\n');
  });
});
