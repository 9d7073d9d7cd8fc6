#!/usr/bin/env node
// The CLI with no npm in between (README.md), for supervisors: npm does not wait for its child on SIGTERM.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/gateway/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('vllm-gateway is not built: run `npm ci` (or `npm run build`) in the repository first.\n');
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
