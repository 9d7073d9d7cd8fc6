// Loaded into the gateway by `npm run soak` (node --expose-gc --import this-file): on SIGUSR2 it
// collects garbage and appends one JSON line to $SOAK_PROBE_FILE with the process's memory, its
// active libuv resources by type, its open file descriptors, and the listeners registered on every
// EventEmitter still alive. The soak compares these at quiet moments to find leaks that RSS alone
// hides (a listener left on a long-lived emitter per request, a socket never closed).
import { EventEmitter } from 'node:events';
import { appendFileSync, readdirSync } from 'node:fs';

const file = process.env.SOAK_PROBE_FILE;
const emitters = new Set();

// Every EventEmitter (sockets, streams, undici clients, the scheduler...) runs EventEmitter.init
// from its constructor; a WeakRef lets it be collected as usual.
const init = EventEmitter.init;
EventEmitter.init = function (...args) {
  emitters.add(new WeakRef(this));
  return init.apply(this, args);
};

function listenersOf(e) {
  let n = 0;
  for (const name of e.eventNames()) n += e.listenerCount(name);
  return n;
}

function sample() {
  globalThis.gc?.();
  let live = 0;
  let listeners = 0;
  let maxOnOne = 0;
  const byKind = {};
  for (const ref of emitters) {
    const e = ref.deref();
    if (!e) {
      emitters.delete(ref);
      continue;
    }
    live++;
    const n = listenersOf(e);
    listeners += n;
    if (n > maxOnOne) maxOnOne = n;
    const kind = e.constructor?.name ?? 'Object';
    const k = (byKind[kind] ??= { emitters: 0, listeners: 0 });
    k.emitters++;
    k.listeners += n;
  }
  const resources = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  let fds = null;
  try {
    fds = readdirSync('/proc/self/fd').length;
  } catch {
    /* not Linux */
  }
  const m = process.memoryUsage();
  return {
    at: Date.now(),
    rssMiB: m.rss / 1048576,
    heapUsedMiB: m.heapUsed / 1048576,
    heapTotalMiB: m.heapTotal / 1048576,
    externalMiB: m.external / 1048576,
    arrayBuffersMiB: m.arrayBuffers / 1048576,
    resources,
    handles: Object.values(resources).reduce((a, b) => a + b, 0),
    fds,
    emitters: live,
    listeners,
    maxListenersOnOneEmitter: maxOnOne,
    emittersByKind: byKind,
  };
}

if (file) process.on('SIGUSR2', () => appendFileSync(file, `${JSON.stringify(sample())}\n`));
