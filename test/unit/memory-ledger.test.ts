// The memory ledger (pure): memory a stopped server still holds is not taken for another
// process's until a later reading shows it gone, or RELEASING_MS passed; its PIDs likewise.

import { describe, expect, it } from 'vitest';
import { MemoryLedger, RELEASING_MS } from '../../gateway/scheduler/memory-ledger.js';

describe('MemoryLedger', () => {
  it('with nothing recorded, other memory is what was measured', () => {
    expect(new MemoryLedger().otherMiB(0, 1234, 100, 100)).toBe(1234);
  });

  it('unattributed memory that grew since a stop, up to what the server held, is not other', () => {
    const l = new MemoryLedger();
    l.noteStopped([{ gpu: 0, heldMiB: 10_000, otherMiB: 500 }], [41, 42], 1000);
    // A reading from before the stop completed shows the server's memory as unattributed.
    expect(l.otherMiB(0, 10_500, 900, 1100)).toBe(500);
    // Another GPU is untouched.
    expect(l.otherMiB(1, 700, 900, 1100)).toBe(700);
    // More than it held: the excess is another process's.
    expect(l.otherMiB(0, 12_000, 900, 1100)).toBe(2000);
    // Partly released.
    expect(l.otherMiB(0, 4000, 1050, 1100)).toBe(500);
  });

  it('the record ends once a later reading shows other memory back to its level', () => {
    const l = new MemoryLedger();
    l.noteStopped([{ gpu: 0, heldMiB: 10_000, otherMiB: 500 }], [], 1000);
    expect(l.otherMiB(0, 500, 1200, 1200)).toBe(500); // done: record dropped
    // From here a rise is another process's again.
    expect(l.otherMiB(0, 9000, 1300, 1300)).toBe(9000);
  });

  it('the record ends after RELEASING_MS whatever the readings say', () => {
    const l = new MemoryLedger();
    l.noteStopped([{ gpu: 0, heldMiB: 10_000, otherMiB: 500 }], [], 1000);
    expect(l.otherMiB(0, 10_500, 900, 1000 + RELEASING_MS)).toBe(500);
    expect(l.otherMiB(0, 10_500, 900, 1001 + RELEASING_MS)).toBe(10_500);
  });

  it('two servers stopped on one GPU add up; other memory is the level before the first', () => {
    const l = new MemoryLedger();
    l.noteStopped([{ gpu: 0, heldMiB: 4000, otherMiB: 300 }], [], 1000);
    l.noteStopped([{ gpu: 0, heldMiB: 6000, otherMiB: 4300 }], [], 1100);
    expect(l.otherMiB(0, 10_300, 1050, 1150)).toBe(300);
  });

  it('PIDs of stopped servers are releasing for RELEASING_MS', () => {
    const l = new MemoryLedger();
    l.noteStopped([], [7, 8], 1000);
    l.noteStopped([], [9], 5000);
    expect([...l.releasingPids(1000 + RELEASING_MS)].sort()).toEqual([7, 8, 9]);
    expect([...l.releasingPids(1001 + RELEASING_MS)]).toEqual([9]);
    expect([...l.releasingPids(5001 + RELEASING_MS)]).toEqual([]);
  });
});
