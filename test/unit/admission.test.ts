// Admission's rule (gateway/scheduler/admission.ts), pure over its facts with an injected clock:
// refused at once (shutting down, cooling down, queue full), served at once, or queued. The
// coordinator's admit() and the HTTP side's progress-comment check both go through it.

import { describe, expect, it } from 'vitest';
import { decideAdmission, startRefusal, type AdmissionFacts } from '../../gateway/scheduler/admission.js';
import { PHASES } from '../../gateway/scheduler/lifecycle.js';

const T0 = 1_000_000;

function facts(over: Partial<AdmissionFacts> = {}): AdmissionFacts {
  return {
    id: 'm',
    phase: 'ready',
    coolDownUntil: 0,
    error: null,
    priority: 'interactive',
    queued: 0,
    batchQueued: 0,
    inFlight: 0,
    maxQueue: 2,
    maxConcurrent: 1,
    shuttingDown: false,
    clientGone: false,
    now: T0,
    ...over,
  };
}

const kind = (f: Partial<AdmissionFacts>) => decideAdmission(facts(f)).kind;
const refusal = (f: Partial<AdmissionFacts>) => {
  const a = decideAdmission(facts(f));
  if (a.kind !== 'refuse') throw new Error(`expected a refusal, got ${a.kind}`);
  return a.error;
};

describe('decideAdmission', () => {
  it('serves at once only a serving model with nobody waiting and a slot free', () => {
    expect(kind({})).toBe('now');
    expect(kind({ inFlight: 1 })).toBe('queue'); // no slot
    expect(kind({ queued: 1, maxConcurrent: 4 })).toBe('queue'); // FIFO: nobody jumps the line
    expect(kind({ clientGone: true })).toBe('queue'); // its ticket is cancelled, never leased
    for (const phase of PHASES.filter((p) => p !== 'ready' && p !== 'failed')) {
      expect([phase, kind({ phase })]).toEqual([phase, 'queue']); // yielding takes no new request
    }
  });

  it('answers queue_full (429, Retry-After 1) at the bound, for those who would wait', () => {
    expect(refusal({ inFlight: 1, queued: 2 })).toMatchObject({
      code: 'queue_full',
      status: 429,
      retryAfter: 1,
      message: 'The queue for this model is full (2 waiting); try again shortly.',
    });
    expect(kind({ inFlight: 1, queued: 1 })).toBe('queue');
    expect(refusal({ phase: 'stopped', queued: 2 }).code).toBe('queue_full');
    // maxQueue 0: nobody waits, but a free slot still serves at once.
    expect(kind({ maxQueue: 0 })).toBe('now');
    expect(refusal({ maxQueue: 0, inFlight: 1 }).code).toBe('queue_full');
  });

  it("a full queue: an interactive request takes the youngest batch request's place, a batch one is refused", () => {
    const full = { phase: 'stopped' as const, queued: 2, batchQueued: 2 };
    const a = decideAdmission(facts(full));
    expect(a).toMatchObject({ kind: 'queue', displaced: { code: 'queue_full', status: 429, retryAfter: 1 } });
    expect(a.kind === 'queue' && a.displaced?.message).toBe(
      'The queue for this model is full (2 waiting): an interactive request took its place; try again shortly.',
    );
    expect(refusal({ ...full, priority: 'batch' }).code).toBe('queue_full');
    expect(refusal({ ...full, batchQueued: 0 }).code).toBe('queue_full'); // only interactive ones wait: nobody to displace
    // Not full: nobody is displaced, whatever waits.
    expect(decideAdmission(facts({ ...full, queued: 1, batchQueued: 1 }))).toEqual({ kind: 'queue', displaced: null });
    // A batch request is served at once like any other when the model is free.
    expect(kind({ priority: 'batch' })).toBe('now');
  });

  it('refuses a failed model while it cools down, by the clock, with the seconds left as Retry-After', () => {
    const failed = { phase: 'failed' as const, coolDownUntil: T0 + 9_500, error: 'exit 1', queued: 5 };
    expect(refusal(failed)).toMatchObject({
      code: 'model_cooling_down',
      status: 503,
      retryAfter: 10,
      message: 'm failed to start and is cooling down for 10 s: exit 1',
    });
    expect(refusal({ ...failed, now: T0 + 9_000 }).retryAfter).toBe(1);
    // Once the cool-down is over the request waits for the start it asks for (or is full).
    expect(kind({ ...failed, now: T0 + 9_500, queued: 0 })).toBe('queue');
    expect(refusal({ ...failed, now: T0 + 9_500 }).code).toBe('queue_full');
    // A cool-down left on a model that is no longer failed refuses nothing.
    expect(kind({ phase: 'ready', coolDownUntil: T0 + 9_500 })).toBe('now');
  });

  it('refuses everything while shutting down, before any other rule', () => {
    for (const f of [{}, { queued: 2, inFlight: 1 }, { phase: 'failed' as const, coolDownUntil: T0 + 5000 }]) {
      expect(refusal({ ...f, shuttingDown: true })).toMatchObject({ code: 'shutting_down', message: 'The gateway is shutting down' });
    }
  });

  it('refuses a load for the same reasons as a request, and never for a full queue', () => {
    expect(startRefusal(facts({ shuttingDown: true }))?.code).toBe('shutting_down');
    expect(startRefusal(facts({ phase: 'failed', coolDownUntil: T0 + 1 }))?.code).toBe('model_cooling_down');
    expect(startRefusal(facts({ phase: 'failed', coolDownUntil: T0 }))).toBeNull();
    expect(startRefusal(facts({ queued: 9, inFlight: 9 }))).toBeNull();
  });
});
