import { describe, expect, it } from 'vitest';
import { LogLimit, LogLimits } from '../../src/internal/log-limit.js';
import { isHandleForApplication } from '../../src/lifecycle/worker-channel-primary.js';

describe('LogLimit', () => {
  it('logs the first, then at most one per interval with how many were left out', () => {
    const limit = new LogLimit(10_000);
    expect(limit.take(1_000)).toBe(0);
    const left = Array.from({ length: 1_999 }, (_, i) => limit.take(1_000 + i * 4));
    expect(left.every((value) => value === undefined)).toBe(true);
    expect(limit.take(10_999)).toBeUndefined();
    expect(limit.take(11_000)).toBe(2_000);
    expect(limit.take(11_001)).toBeUndefined();
    // After a quiet spell the next one is logged at once, with what was left out before it.
    expect(limit.take(60_000)).toBe(1);
    expect(limit.take(70_000)).toBe(0);
  });
});

describe('LogLimits', () => {
  it('limits each peer on its own, and starts afresh for a peer deleted', () => {
    const limits = new LogLimits<number>(5_000);
    expect(limits.take(1, 0)).toBe(0);
    expect(limits.take(2, 1)).toBe(0);
    expect(limits.take(1, 2)).toBeUndefined();
    limits.delete(1);
    expect(limits.take(1, 3)).toBe(0);
  });
});

describe('isHandleForApplication', () => {
  it('leaves a handle to the application only with its own message and its own listener', () => {
    expect(isHandleForApplication(false, 1)).toBe(true);
    expect(isHandleForApplication(false, 0)).toBe(false);
    expect(isHandleForApplication(true, 1)).toBe(false);
    expect(isHandleForApplication(true, 0)).toBe(false);
  });
});
