// Caps V8's young generation for the headless gateway. Under load V8 doubles the new space from
// 1 MiB per semi-space up to 16 (Node 20 on 64-bit): 32 MiB of RSS that stays after the load,
// a third of what the gateway holds. The limit (--max-semi-space-size) can only be set on node's
// command line, but the growth factor is read each time the new space grows: once it has reached
// the cap, a growth factor of 1 stops it there. Requests keep their cost (a 4 MiB semi-space is
// still far larger than what one request allocates); RSS after load drops by ~24 MiB.

import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

const MiB = 1024 * 1024;

const newSpaceBytes = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

/**
 * Lets the young generation grow to `semiSpaceMiB` per semi-space and no further. Checked after
 * each garbage collection until the cap is reached (then the observer goes away). No effect when
 * node already runs with --max-semi-space-size or --semi-space-growth-factor.
 */
export function capYoungGeneration(semiSpaceMiB = 4): void {
  if (process.execArgv.some((a) => a.startsWith('--max-semi-space-size') || a.startsWith('--semi-space-growth-factor'))) return;
  const limit = 2 * semiSpaceMiB * MiB; // both semi-spaces
  const freeze = () => v8.setFlagsFromString('--semi-space-growth-factor=1');
  if (newSpaceBytes() >= limit) return freeze();
  const observer = new PerformanceObserver(() => {
    if (newSpaceBytes() < limit) return;
    freeze();
    observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}
