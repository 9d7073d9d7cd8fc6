#!/usr/bin/env node
// The CLI's entry: `npm run gateway -- …` runs it, and supervisors can run it with no npm in between.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/gateway/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('vllm-gateway is not built: run `npm ci` (or `npm run build`) in the repository first.\n');
  process.exit(1);
}

// Under `npm run gateway`, npm's child is the script shell (`sh -c "node gateway/bin.mjs …"`), not this
// process. npm passes SIGTERM to that shell only; sh dies without passing it on and this process would
// keep running, re-parented. So when the parent goes away, stop as on SIGTERM: drain, stop the models.
// (Ctrl-C is unaffected: the terminal signals the whole process group.)
if (process.env.npm_lifecycle_event === 'gateway') {
  const parent = process.ppid;
  const parentGone = () => {
    if (process.ppid !== parent) return true; // re-parented (POSIX)
    try {
      process.kill(parent, 0); // Windows does not re-parent: ask whether the parent still exists
      return false;
    } catch (err) {
      return err.code === 'ESRCH';
    }
  };
  const watch = setInterval(() => {
    if (!parentGone()) return;
    clearInterval(watch);
    // The SIGTERM handlers themselves (a real signal would end the process at once on Windows);
    // none yet: nothing to drain.
    if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM', 'SIGTERM');
    else process.exit(143);
  }, 250);
  watch.unref();
}

const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
