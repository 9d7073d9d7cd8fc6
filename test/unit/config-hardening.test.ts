// Config inputs that used to crash, hang or pass silently (docs/reliability.md "Bad input"):
// recursive YAML aliases, huge files, alias collisions hidden by other errors, nested ${…}
// references, and --port values Number() would accept.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../gateway/cli.js';
import { runCheckConfig } from '../../gateway/config/check-config.js';
import { parseConfigText } from '../../gateway/config/load-config.js';

const GPU = 'gpu: { probe: static, static: [{ name: g, totalGiB: 24 }] }\n';
const issuesOf = (text: string, env: NodeJS.ProcessEnv = {}) =>
  parseConfigText(text, '<t>', env).issues.map((i) => `${i.path}: ${i.message}`);

describe('YAML aliases', () => {
  it('a recursive alias is a config error with its path, not a stack overflow', () => {
    expect(issuesOf(`${GPU}a: &a [*a]\nmodels: {}\n`)).toEqual([
      'a.0: a YAML alias refers to a node that contains it (a recursive alias): the config would be infinite',
    ]);
    expect(issuesOf(`${GPU}models: &m { x: *m }\n`)[0]).toMatch(/^models\.x: .*recursive alias/);
  });

  it('check-config reports it and exits 1 (no stack trace)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-cfg-'));
    try {
      const file = join(dir, 'c.yaml');
      writeFileSync(file, `${GPU}a: &a [*a]\nmodels: {}\n`);
      const lines: string[] = [];
      expect(await runCheckConfig(file, {}, (l) => lines.push(l))).toBe(1);
      expect(lines[0]).toBe(
        `${file}: a.0: a YAML alias refers to a node that contains it (a recursive alias): the config would be infinite`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nesting thousands of levels deep is a config error that says so, not a stack overflow message', () => {
    const issues = issuesOf(`x: ${'['.repeat(100_000)}${']'.repeat(100_000)}\nmodels: {}\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(
      /^: YAML syntax error at line 1, column \d+: nested too deeply \(lists or mappings thousands of levels deep\)$/,
    );
  });

  it('alias expansion is bounded (billion laughs)', () => {
    let yaml = `${GPU}models: {}\nl0: &l0 ["x","x","x","x","x","x","x","x","x","x"]\n`;
    for (let i = 1; i < 9; i++)
      yaml += `l${i}: &l${i} [${Array(10)
        .fill(`*l${i - 1}`)
        .join(',')}]\n`;
    expect(issuesOf(yaml)[0]).toMatch(/^: YAML error: .*alias/i);
  });
});

describe('large files', () => {
  it('a config over 1 MiB is refused at once with a clear error', () => {
    let text = `${GPU}models:\n`;
    for (let i = 0; text.length <= 1024 * 1024; i++) text += `  m${i}:\n    runtime: remote\n    url: "http://127.0.0.1:9"\n`;
    expect(issuesOf(text)).toEqual([expect.stringMatching(/^: the config is larger than 1 MiB/)]);
  });

  it('duplicate keys are still found (by the gateway’s own one-pass check), each with its path and line', () => {
    expect(issuesOf(`${GPU}models:\n  a: { runtime: remote, url: "http://x" }\n  a: { runtime: remote, url: "http://y" }\n`)).toEqual([
      'models.a: YAML syntax error at line 4, column 3: Map keys must be unique',
    ]);
  });
});

describe('every error at once', () => {
  it('an alias equal to another model’s id is reported even when its model has another error', () => {
    const issues = issuesOf(`${GPU}models:
  a: { runtime: remote, url: "http://127.0.0.1:9", aliases: ["b"], bogus: 1 }
  b: { runtime: remote, url: "http://127.0.0.1:9", vramGiB: -1 }
`);
    expect(issues).toContain('models.a.aliases.0: alias "b" is the id of another model');
    expect(issues).toContain('models.a.bogus: unknown key "bogus"');
  });

  it('a nested ${A:-${PORT}} is reported, not turned into a literal "${PORT}"', () => {
    const issues = issuesOf(`${GPU}models:\n  p: { runtime: process, command: ["srv", "--port", "\${A:-\${PORT}}"], vramGiB: 1 }\n`);
    expect(issues).toEqual([
      'models.p.command.2: nested reference in "${A:-${PORT}…": a default cannot contain another ${…} (nesting is not supported)',
    ]);
  });
});

describe('timer-backed seconds', () => {
  it('over 24.8 days (what a Node timer waits at most) are refused, not turned into 1 ms', () => {
    const issues = issuesOf(
      `${GPU}limits: { queueTimeoutSeconds: 3000000 }\ntimeouts: { idleSeconds: 1e9, startSeconds: 2147483 }\nshutdown: { drainSeconds: 2147484 }\nmodels: {}\n`,
    );
    const why = 'must be at most 2147483 (24.8 days, the longest a timer waits)';
    expect(issues).toEqual([`limits.queueTimeoutSeconds: ${why}`, `timeouts.idleSeconds: ${why}`, `shutdown.drainSeconds: ${why}`]);
  });

  it('ttlSeconds may be longer (the idle timer re-arms in steps)', () => {
    expect(issuesOf(`${GPU}defaults: { ttlSeconds: 31536000 }\nmodels: {}\n`)).toEqual([]);
  });
});

describe('serve --port', () => {
  const stderr = vi.spyOn(process.stderr, 'write');
  afterEach(() => stderr.mockClear());

  it('only a decimal integer from 0 to 65535 is accepted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-port-'));
    try {
      const file = join(dir, 'c.yaml');
      writeFileSync(file, `${GPU}models: {}\n`);
      for (const port of ['', '0x4E27', '1e4', '80.0', ' 80', '-1', '65536', '+80']) {
        stderr.mockImplementation(() => true);
        expect(await main(['serve', '--config', file, `--port=${port}`]), JSON.stringify(port)).toBe(1);
        expect(String(stderr.mock.calls.at(-1)?.[0])).toBe(`--port must be a decimal integer from 0 to 65535, got "${port}"\n`);
        stderr.mockClear();
      }
    } finally {
      stderr.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--host must name a host: "" (all interfaces to Node) and blanks are refused with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-host-'));
    const stderr = vi.spyOn(process.stderr, 'write'); // its own: the test above restores the shared one
    try {
      const file = join(dir, 'c.yaml');
      writeFileSync(file, `${GPU}models: {}\n`);
      for (const host of ['', ' ', ' 127.0.0.1']) {
        stderr.mockImplementation(() => true);
        expect(await main(['serve', '--config', file, `--host=${host}`]), JSON.stringify(host)).toBe(1);
        expect(String(stderr.mock.calls.at(-1)?.[0])).toBe(`--host must be a host name or address (e.g. 127.0.0.1), got "${host}"\n`);
        stderr.mockClear();
      }
    } finally {
      stderr.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
