// Priority lanes' rules (pure, clock injected as plain numbers): a request's class, the order of a
// model's queue, the order of the line for GPU memory, and how long a busy holder keeps its memory
// against a start that only batch requests wait for.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../gateway/errors.js';
import {
  PriorityLanes,
  compareLine,
  onlyBatchWaits,
  parsePriorityHeader,
  requestPriority,
  servesInteractive,
  yieldableAt,
  type Priority,
} from '../../gateway/scheduler/priority.js';

const S = 1000;

describe('a request’s class', () => {
  it('X-Priority names it, in any case, spaces ignored', () => {
    expect(parsePriorityHeader('batch')).toBe('batch');
    expect(parsePriorityHeader('Interactive')).toBe('interactive');
    expect(parsePriorityHeader('  BATCH ')).toBe('batch');
    expect(parsePriorityHeader(undefined)).toBeNull();
    expect(parsePriorityHeader('')).toBeNull();
  });

  it('any other value is a 400 invalid_request that names the header and the value', () => {
    for (const bad of ['bulk', 'low', '1', 'batch, interactive', ['batch', 'batch']]) {
      let thrown: unknown = null;
      try {
        parsePriorityHeader(bad);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(GatewayError);
      expect(thrown).toMatchObject({ code: 'invalid_request', status: 400, param: 'X-Priority' });
      expect((thrown as Error).message).toMatch(/X-Priority must be "interactive" or "batch"/);
    }
  });

  it('header, else the key’s class, else the default', () => {
    const of = (header: string | undefined, keyPriority: Priority | undefined, defaultPriority: Priority = 'interactive') =>
      requestPriority({ header, keyPriority, defaultPriority });
    expect(of('interactive', 'batch')).toBe('interactive');
    expect(of(undefined, 'batch')).toBe('batch');
    expect(of(undefined, undefined)).toBe('interactive');
    expect(of(undefined, undefined, 'batch')).toBe('batch');
    expect(of('batch', undefined, 'interactive')).toBe('batch');
    expect(() => of('urgent', 'batch')).toThrow(/X-Priority/); // a bad header is refused even with a key class
  });
});

describe('a model’s queue order', () => {
  const w = (id: string, priority: Priority, at: number) => ({ id, priority, at });

  it('interactive before batch, FIFO within each class', () => {
    const lanes = new PriorityLanes<ReturnType<typeof w>>();
    lanes.add(w('b1', 'batch', 1));
    lanes.add(w('b2', 'batch', 2));
    lanes.add(w('i1', 'interactive', 3));
    lanes.add(w('b3', 'batch', 4));
    lanes.add(w('i2', 'interactive', 5));
    expect([...lanes].map((x) => x.id)).toEqual(['i1', 'i2', 'b1', 'b2', 'b3']);
    expect([lanes.size, lanes.sizeOf('interactive'), lanes.sizeOf('batch')]).toEqual([5, 2, 3]);
    expect([lanes.oldestAt('interactive'), lanes.oldestAt('batch'), lanes.oldestAtAll()]).toEqual([3, 1, 1]);
  });

  it('a waiter that leaves leaves its lane only', () => {
    const lanes = new PriorityLanes<ReturnType<typeof w>>();
    const i1 = w('i1', 'interactive', 1);
    const b1 = w('b1', 'batch', 2);
    lanes.add(i1);
    lanes.add(b1);
    expect(lanes.delete(i1)).toBe(true);
    expect(lanes.delete(i1)).toBe(false);
    expect([lanes.oldestAt('interactive'), lanes.oldestAtAll()]).toEqual([null, 2]);
    lanes.clear();
    expect([lanes.size, lanes.oldestAtAll()]).toEqual([0, null]);
  });
});

describe('a full queue', () => {
  const w = (id: string, priority: Priority, at: number) => ({ id, priority, at });
  it('the batch request that joined last is the one an interactive request displaces (admission.ts says when)', () => {
    const lanes = new PriorityLanes<ReturnType<typeof w>>();
    lanes.add(w('b1', 'batch', 1));
    lanes.add(w('i1', 'interactive', 2));
    lanes.add(w('b2', 'batch', 3));
    expect(lanes.youngest('batch')?.id).toBe('b2');
    const onlyInteractive = new PriorityLanes<ReturnType<typeof w>>();
    onlyInteractive.add(w('i1', 'interactive', 1));
    expect(onlyInteractive.youngest('batch')).toBeNull();
  });
});

describe('the line for GPU memory', () => {
  const c = (id: string, since: number | null, interactiveSince?: number | null, batchSince?: number | null) => ({
    id,
    since,
    waiters: interactiveSince === undefined ? undefined : { interactiveSince, batchSince: batchSince ?? null },
  });

  it('starts with interactive waiters first, by their oldest interactive request; then batch-only ones by their oldest batch request', () => {
    const line = [
      c('old-batch', 10, null, 10),
      c('mixed', 5, 40, 5), // its batch request is older, but it is in line by its interactive one
      c('young-batch', 20, null, 20),
      c('interactive', 30, 30, null),
      c('no-facts', 35), // without class facts: interactive, by `since`
      c('nobody', null, null, null),
    ].sort(compareLine);
    expect(line.map((x) => x.id)).toEqual(['interactive', 'no-facts', 'mixed', 'old-batch', 'young-batch', 'nobody']);
  });

  it('onlyBatchWaits: batch waiters and no interactive one', () => {
    expect(onlyBatchWaits({ interactiveSince: null, batchSince: 1 })).toBe(true);
    expect(onlyBatchWaits({ interactiveSince: 2, batchSince: 1 })).toBe(false);
    expect(onlyBatchWaits({ interactiveSince: null, batchSince: null })).toBe(false);
    expect(onlyBatchWaits(undefined)).toBe(false);
  });
});

describe('a busy holder’s turn', () => {
  const swap = 30 * S;
  const batchSwap = 300 * S;

  it('against a start with interactive waiters: swapAfterSeconds after it became ready', () => {
    expect(yieldableAt({ readyAt: 100 * S, servesInteractive: true }, false, swap, batchSwap)).toBe(130 * S);
  });

  it('against a batch-only start, a holder serving interactive requests keeps it batchSwapAfterSeconds', () => {
    expect(yieldableAt({ readyAt: 100 * S, servesInteractive: true }, true, swap, batchSwap)).toBe(400 * S);
  });

  it('a holder serving only batch requests yields to a batch-only start after swapAfterSeconds', () => {
    expect(yieldableAt({ readyAt: 100 * S, servesInteractive: false }, true, swap, batchSwap)).toBe(130 * S);
  });

  it('batchSwapAfterSeconds below swapAfterSeconds never shortens an interactive holder’s turn', () => {
    expect(yieldableAt({ readyAt: 0, servesInteractive: true }, true, swap, 5 * S)).toBe(30 * S);
  });

  it('serving interactive requests: one in flight or queued (interactiveAt = now), or within the grace after the last', () => {
    expect(servesInteractive(100 * S, 100 * S, 500)).toBe(true);
    expect(servesInteractive(100 * S - 499, 100 * S, 500)).toBe(true);
    expect(servesInteractive(100 * S - 500, 100 * S, 500)).toBe(false);
    expect(servesInteractive(null, 100 * S, 500)).toBe(false);
  });

  it('swapAfterSeconds 0: never, by anyone', () => {
    expect(yieldableAt({ readyAt: 0, servesInteractive: true }, true, 0, batchSwap)).toBeNull();
    expect(yieldableAt({ readyAt: 0, servesInteractive: false }, false, 0, batchSwap)).toBeNull();
  });
});
