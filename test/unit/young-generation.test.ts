// The young generation stops growing at the cap (a child process: V8 flags are per process; the
// module is imported from dist/, built by `npm test`).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('../../dist/gateway/young-generation.js', import.meta.url));

function newSpaceAfterChurn(cap: boolean): number {
  const script = `
    import v8 from 'node:v8';
    ${cap ? `const { capYoungGeneration } = await import(${JSON.stringify(MODULE)}); capYoungGeneration(4);` : ''}
    const keep = [];
    for (let r = 0; r < 150; r++) {
      const a = [];
      for (let i = 0; i < 20000; i++) a.push({ i, s: 'x' + i });
      keep.push(a);
      if (keep.length > 3) keep.shift();
      await new Promise((res) => setImmediate(res)); // let the gc observer run
    }
    const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    console.log(s.space_size);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return Number(r.stdout.trim()) / (1024 * 1024);
}

describe('capYoungGeneration', () => {
  it('keeps the new space at the cap where V8 alone grows it to its maximum', () => {
    const uncapped = newSpaceAfterChurn(false);
    const capped = newSpaceAfterChurn(true);
    expect(uncapped).toBeGreaterThan(8); // the churn makes V8 grow it (32 MiB on Node 20)
    expect(capped).toBeLessThanOrEqual(8); // two semi-spaces of at most 4 MiB
    expect(capped).toBeGreaterThanOrEqual(2);
  }, 120_000); // two node processes churning memory: slow on a busy machine
});
