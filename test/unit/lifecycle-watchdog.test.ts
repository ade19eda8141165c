import { describe, expect, it } from 'vitest';
import { heartbeatInterval } from '../../src/lifecycle/watchdog-primary.js';
import { normalizeListenOptions } from '../../src/options/index.js';

describe('heartbeatInterval', () => {
  it('pings five times per timeout, within 20 ms … 5 s', () => {
    expect(heartbeatInterval(30_000)).toBe(5_000);
    expect(heartbeatInterval(10_000)).toBe(2_000);
    expect(heartbeatInterval(1_000)).toBe(200);
    expect(heartbeatInterval(50)).toBe(20);
    expect(heartbeatInterval(3_600_000)).toBe(5_000);
  });
});

describe('workerTimeout', () => {
  it('defaults to 30 s, and 0 disables it', () => {
    expect(normalizeListenOptions({}).workerTimeout).toBe(30_000);
    expect(normalizeListenOptions({ workerTimeout: 0 }).workerTimeout).toBe(0);
  });

  it('rejects what is not a non-negative integer of ms', () => {
    expect(() => normalizeListenOptions({ workerTimeout: -1 })).toThrow(/`workerTimeout`.*-1 \(number\)/);
    // A JavaScript caller's wrong type.
    expect(() => normalizeListenOptions({ workerTimeout: '5s' as unknown as number })).toThrow(/`workerTimeout`/);
  });
});
