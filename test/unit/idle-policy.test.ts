// idleStopAt (pure): when an idle model is due to stop, and when it never is.

import { describe, expect, it } from 'vitest';
import { idleStopAt, idleTtlSeconds, type IdleFacts } from '../../gateway/scheduler/idle-policy.js';

const facts = (over: Partial<IdleFacts> = {}): IdleFacts => ({
  ready: true,
  busy: false,
  pinned: false,
  remote: false,
  ttlSeconds: 60,
  keepAliveSeconds: null,
  lastActivity: 1_000,
  ...over,
});

describe('idleStopAt', () => {
  it('is ttlSeconds after the last activity', () => {
    expect(idleStopAt(facts())).toBe(61_000);
    expect(idleStopAt(facts({ ttlSeconds: 0.1 }))).toBe(1_100);
  });

  it("a TTL past what a date can show (over Go's longest duration, ~292 years) is never, not an invalid date", () => {
    const never = 9_223_372_037; // just over math.MaxInt64 ns, in seconds
    expect(idleTtlSeconds(facts({ ttlSeconds: never }))).toBe(Infinity);
    expect(idleStopAt(facts({ ttlSeconds: 1e300 }))).toBeNull();
    expect(idleStopAt(facts({ keepAliveSeconds: 1e300 }))).toBeNull();
    // 30 days (past a Node timer's 24.8-day reach) is still a real deadline.
    expect(idleStopAt(facts({ keepAliveSeconds: 2_592_000 }))).toBe(1_000 + 2_592_000_000);
  });

  it('never while busy, not ready, pinned, remote, or with a TTL of 0', () => {
    for (const over of [{ busy: true }, { ready: false }, { pinned: true }, { remote: true }, { ttlSeconds: 0 }]) {
      expect(idleStopAt(facts(over))).toBeNull();
    }
  });
});

describe("a request's keep_alive (Ollama routes) instead of ttlSeconds", () => {
  it('replaces ttlSeconds, a TTL of 0 included; 0 stops as soon as idle; Infinity never', () => {
    expect(idleStopAt(facts({ keepAliveSeconds: 3600 }))).toBe(3_601_000);
    expect(idleStopAt(facts({ ttlSeconds: 0, keepAliveSeconds: 5 }))).toBe(6_000);
    expect(idleStopAt(facts({ keepAliveSeconds: 0 }))).toBe(1_000);
    expect(idleStopAt(facts({ keepAliveSeconds: Infinity }))).toBeNull();
    expect(idleTtlSeconds(facts({ keepAliveSeconds: null, ttlSeconds: 0 }))).toBe(Infinity);
  });

  it('a pinned model ignores it, 0 included; still never while busy', () => {
    expect(idleStopAt(facts({ pinned: true, keepAliveSeconds: 0 }))).toBeNull();
    expect(idleStopAt(facts({ busy: true, keepAliveSeconds: 0 }))).toBeNull();
  });
});
