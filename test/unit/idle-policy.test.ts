// idleStopAt (pure): when an idle model is due to stop, and when it never is.

import { describe, expect, it } from 'vitest';
import { idleStopAt, type IdleFacts } from '../../gateway/scheduler/idle-policy.js';

const facts = (over: Partial<IdleFacts> = {}): IdleFacts => ({
  ready: true,
  busy: false,
  pinned: false,
  remote: false,
  ttlSeconds: 60,
  lastActivity: 1_000,
  ...over,
});

describe('idleStopAt', () => {
  it('is ttlSeconds after the last activity', () => {
    expect(idleStopAt(facts())).toBe(61_000);
    expect(idleStopAt(facts({ ttlSeconds: 0.1 }))).toBe(1_100);
  });

  it('never while busy, not ready, pinned, remote, or with a TTL of 0', () => {
    for (const over of [{ busy: true }, { ready: false }, { pinned: true }, { remote: true }, { ttlSeconds: 0 }]) {
      expect(idleStopAt(facts(over))).toBeNull();
    }
  });
});
