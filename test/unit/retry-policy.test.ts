// Retry policy (pure; P1–P3): which failures may be retried, after how long, within which deadline.

import { describe, expect, it } from 'vitest';
import { decideRetry, errorCode, neverReachedUpstream, retryDelayMs } from '../../gateway/proxy/retry-policy.js';

const S = { maxAttempts: 4, initialDelaySeconds: 1, backoff: 2 };
const err = (code: string) => Object.assign(new Error(code), { code });
const mid = () => 0.5; // no jitter

describe('neverReachedUpstream', () => {
  it('is true only for failures before a connection existed', () => {
    for (const c of ['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']) {
      expect(neverReachedUpstream(err(c)), c).toBe(true);
    }
    for (const c of [
      'ECONNRESET',
      'EPIPE',
      'UND_ERR_SOCKET',
      'UND_ERR_HEADERS_TIMEOUT',
      'UND_ERR_BODY_TIMEOUT',
      'UND_ERR_ABORTED',
      'ETIMEDOUT',
    ]) {
      expect(neverReachedUpstream(err(c)), c).toBe(false);
    }
    expect(neverReachedUpstream(new Error('no code'))).toBe(false);
    expect(neverReachedUpstream(null)).toBe(false);
  });

  it('reads the code from the error or its cause', () => {
    const wrapped = new Error('fetch failed', { cause: err('ECONNREFUSED') });
    expect(errorCode(wrapped)).toBe('ECONNREFUSED');
    expect(neverReachedUpstream(wrapped)).toBe(true);
  });
});

describe('retryDelayMs', () => {
  it('is initialDelay × backoff^(attempt−1)', () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(S, a, mid))).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelayMs({ maxAttempts: 3, initialDelaySeconds: 0.05, backoff: 1.5 }, 3, mid)).toBe(113);
  });

  it('has at most ±10 % jitter', () => {
    expect(retryDelayMs(S, 1, () => 0)).toBe(900);
    expect(retryDelayMs(S, 1, () => 0.999999)).toBe(1100);
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(S, 2, Math.random);
      expect(d).toBeGreaterThanOrEqual(1800);
      expect(d).toBeLessThanOrEqual(2200);
    }
  });

  it('a zero initial delay retries at once', () => {
    expect(retryDelayMs({ maxAttempts: 3, initialDelaySeconds: 0, backoff: 2 }, 2, Math.random)).toBe(0);
  });
});

describe('decideRetry', () => {
  const now = 1_000_000;
  const far = now + 3_600_000;

  it('retries a never-sent failure with the backoff delay', () => {
    expect(decideRetry(S, 1, err('ECONNREFUSED'), now, far, mid)).toEqual({ retry: true, delayMs: 1000 });
    expect(decideRetry(S, 3, err('ECONNREFUSED'), now, far, mid)).toEqual({ retry: true, delayMs: 4000 });
  });

  it('never retries once the request may have been received (P1)', () => {
    for (const c of ['ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT'])
      expect(decideRetry(S, 1, err(c), now, far, mid)).toEqual({ retry: false });
  });

  it('stops at maxAttempts, the first attempt included', () => {
    expect(decideRetry(S, 4, err('ECONNREFUSED'), now, far, mid)).toEqual({ retry: false });
    expect(decideRetry({ ...S, maxAttempts: 1 }, 1, err('ECONNREFUSED'), now, far, mid)).toEqual({ retry: false });
  });

  it('does not start a wait that would end past the deadline (P3)', () => {
    expect(decideRetry(S, 1, err('ECONNREFUSED'), now, now + 1001, mid)).toEqual({ retry: true, delayMs: 1000 });
    expect(decideRetry(S, 1, err('ECONNREFUSED'), now, now + 1000, mid)).toEqual({ retry: false });
    expect(decideRetry(S, 2, err('ECONNREFUSED'), now, now + 1500, mid)).toEqual({ retry: false });
  });
});
