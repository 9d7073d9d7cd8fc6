// Secrets out of client-visible texts (docs/reliability.md): secret flags, env assignments, vLLM's
// non-default args line and every literal secret of the config.

import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../gateway/config/load-config.js';
import { REDACTED, Redactor } from '../../gateway/http/redact.js';

function redactor(): Redactor {
  const { config, issues } = parseConfigText(
    `
auth: { apiKeys: ["sk-client-aaaa"], adminToken: admin-token-bbbb }
gpu: { probe: static, static: [{ name: g, totalGiB: 24 }] }
models:
  d1: { runtime: docker, image: "vllm/vllm-openai:latest", model: m, vramGiB: 4, args: ["--api-key", "dockerkey-cccc"], env: { HF_TOKEN: "hf_dddd", OTHER: "plain-eeee" } }
  p1: { runtime: process, command: ["vllm", "serve", "m", "--hf-token=hf_ffff"], vramGiB: 4 }
  r1: { runtime: remote, url: "http://127.0.0.1:9", apiKey: "remote-gggg" }
`,
    '<test>',
    {},
  );
  if (!config) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return new Redactor(config, 'admin-token-bbbb');
}

describe('Redactor', () => {
  const r = redactor();

  it('replaces the values of secret flags, env assignments and Python reprs', () => {
    expect(r.redact('cmd: vllm serve m --api-key sk-zzz1 --port 8000')).toBe(`cmd: vllm serve m --api-key ${REDACTED} --port 8000`);
    expect(r.redact('--hf-token=hf_abc --x')).toBe(`--hf-token=${REDACTED} --x`);
    expect(r.redact('env HF_TOKEN=hf_abc MY_SECRET="x y" PATH=/bin')).toBe(`env HF_TOKEN=${REDACTED} MY_SECRET=${REDACTED} PATH=/bin`);
    expect(r.redact("non-default args: {'model': 'm', 'api_key': ['sk-zzz2'], 'port': 8000}")).toBe(
      `non-default args: {'model': 'm', 'api_key': '${REDACTED}', 'port': 8000}`,
    );
    expect(r.redact("Namespace(api_key='sk-zzz3', port=1)")).toBe(`Namespace(api_key=${REDACTED}, port=1)`);
  });

  it('replaces every literal secret the config holds, wherever it appears', () => {
    const text = 'a sk-client-aaaa b admin-token-bbbb c ["--api-key","dockerkey-cccc"] hf_dddd hf_ffff remote-gggg plain-eeee';
    const out = r.redact(text);
    for (const s of ['sk-client-aaaa', 'admin-token-bbbb', 'dockerkey-cccc', 'hf_dddd', 'hf_ffff', 'remote-gggg'])
      expect(out).not.toContain(s);
    expect(out).toContain('plain-eeee'); // OTHER is not a secret's name
  });

  it('leaves ordinary text alone', () => {
    const text = 'RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB (--max-model-len 8192, tokens=12)';
    expect(r.redact(text)).toBe(text);
  });
});
