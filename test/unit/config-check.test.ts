import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { runCheckConfig } from '../../gateway/config/check-config.js';
import { loadConfigFile } from '../../gateway/config/load-config.js';
import type { ProcessModelConfig } from '../../gateway/config/types.js';

const repo = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const fixture = (name: string) => repo(`test/fixtures/configs/${name}`);
const ENV = { HOME: '/home/tester' };

async function check(file: string, env: NodeJS.ProcessEnv = ENV): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runCheckConfig(file, env, (line) => lines.push(line));
  return { code, lines };
}

describe('runCheckConfig', () => {
  it('a valid config: one OK line naming the models, exit code 0', async () => {
    const file = fixture('valid-two-models.yaml');
    expect(await check(file)).toEqual({ code: 0, lines: [`${file}: OK (2 models: alpha, beta)`] });
  });

  it('an invalid config: every issue as FILE: PATH: reason, a summary, exit code 1', async () => {
    const file = fixture('invalid-several.yaml');
    const { code, lines } = await check(file);
    expect(code).toBe(1);
    expect(lines).toEqual([
      `${file}: retry.maxAttempt: unknown key "maxAttempt" (did you mean "maxAttempts"?)`,
      `${file}: models.broken.vramGiB: required (number)`,
      expect.stringMatching(new RegExp(`^${file}: listen\\.host: "0\\.0\\.0\\.0" is not a loopback address`)),
      `${file}: 3 errors, config not valid`,
    ]);
  });

  it('a missing file is reported, not thrown', async () => {
    const file = join(tmpdir(), 'does-not-exist-vllm-gw.yaml');
    expect(await check(file)).toEqual({
      code: 1,
      lines: [`${file}: cannot read the config file: no such file`, `${file}: 1 error, config not valid`],
    });
  });

  it('a file-level problem has no key path; env issues do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vllm-gw-check-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'models: {}\n');
    expect(await check(file, { ...ENV, GATEWAY_MAX_RETRIES: 'x' })).toMatchObject({
      code: 1,
      lines: [expect.stringMatching(new RegExp(`^${file}: env\\.GATEWAY_MAX_RETRIES: "x" is not valid`)), expect.any(String)],
    });
    writeFileSync(file, 'a: [\n');
    const { code, lines } = await check(file);
    expect(code).toBe(1);
    expect(lines[0]).toMatch(new RegExp(`^${file}: YAML syntax error at line \\d+, column \\d+: `));
    writeFileSync(file, 'models: {}\n');
    expect(await check(file)).toEqual({ code: 0, lines: [`${file}: OK (0 models)`] });
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('the configs shipped in the repository validate', () => {
  it('gateway.example.yaml: every section, one model of each runtime', async () => {
    const { config, issues } = await loadConfigFile(repo('gateway.example.yaml'), { ...ENV, HF_TOKEN: 'hf_x', REMOTE_KEY: 'rk' });
    expect(issues).toEqual([]);
    expect(config!.models.map((m) => m.runtime)).toEqual(['docker', 'process', 'remote']);
    expect(config!.models[0]).toMatchObject({
      id: 'qwen2.5-1.5b',
      image: 'vllm/vllm-openai:latest',
      model: 'Qwen/Qwen2.5-1.5B-Instruct',
      env: { HF_TOKEN: 'hf_x' },
    });
    expect(config!.models[2]).toMatchObject({ apiKey: 'rk' });
    // It shows every default: loading it gives the same sections as an empty config.
    const { config: empty } = await loadConfigFile(fixture('valid-two-models.yaml'), ENV);
    for (const section of ['auth', 'limits', 'retry', 'timeouts', 'shutdown', 'scheduling', 'streaming', 'gpu', 'docker'] as const) {
      expect(config![section], section).toEqual(empty![section]);
    }
    expect(config!.listen).toEqual({ host: '127.0.0.1', port: 8080, ollamaPort: null });
    // …and writes every key out.
    const raw = YAML.parse(readFileSync(repo('gateway.example.yaml'), 'utf8'));
    for (const section of [
      'listen',
      'auth',
      'limits',
      'retry',
      'timeouts',
      'shutdown',
      'scheduling',
      'streaming',
      'gpu',
      'docker',
    ] as const) {
      // dockerHost (from DOCKER_HOST) and keyPriorities (from apiKeys' entries) are derived, not file keys.
      const keys = Object.keys(config![section]).filter((k) => k !== 'dockerHost' && k !== 'keyPriorities');
      expect(Object.keys(raw[section]).sort(), section).toEqual(keys.sort());
    }
    expect(raw.defaults).toEqual({ ttlSeconds: 1800 });
    expect(raw.models['qwen2.5-1.5b'].sleep).toEqual({ level: 0, residualGiB: 1, hostRamGiB: 'auto' });
    expect(config!.models[0]).toMatchObject({ sleep: { level: 0, residualGiB: 1, hostRamGiB: 'auto' } });
  });

  it('gateway.example.yaml also validates with none of its variables set', async () => {
    expect((await loadConfigFile(repo('gateway.example.yaml'), ENV)).issues).toEqual([]);
  });

  it('examples/demo.yaml: a static GPU and three mock process models that need eviction', async () => {
    const { config, issues } = await loadConfigFile(repo('examples/demo.yaml'), ENV);
    expect(issues).toEqual([]);
    expect(config!.gpu.probe).toBe('static');
    expect(config!.gpu.static).toEqual([{ name: 'Simulated GPU', totalGiB: 24 }]);
    const models = config!.models as ProcessModelConfig[];
    expect(models.map((m) => m.runtime)).toEqual(['process', 'process', 'process']);
    const usable = 24 - config!.gpu.reserveGiB;
    const total = models.reduce((sum, m) => sum + m.vramGiB, 0);
    expect(total).toBeGreaterThan(usable); // not all fit: the demo shows eviction
    for (const m of models) {
      expect(m.vramGiB).toBeLessThanOrEqual(usable);
      expect(m.aliases).toHaveLength(1);
      expect(m.command).toEqual(
        expect.arrayContaining(['../test/fixtures/mock-vllm.mjs', '${PORT}', '${MODEL_ID}', '${GPU_MEMORY_UTILIZATION}']),
      );
    }
  });
});
