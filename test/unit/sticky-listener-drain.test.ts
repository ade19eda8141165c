import { describe, expect, it } from 'vitest';
import { drainStep, HANDSHAKE_GRACE_MS } from '../../src/sticky/planes/listener-drain-primary.js';

describe('drainStep', () => {
  it('waits out the handshake grace even with an empty queue', () => {
    expect(drainStep(0, 0, 10_000)).toBe('wait');
    expect(drainStep(0, HANDSHAKE_GRACE_MS - 1, 10_000)).toBe('wait');
    expect(drainStep(0, HANDSHAKE_GRACE_MS, 10_000)).toBe('done');
  });

  it('waits while connections are queued, until the deadline', () => {
    expect(drainStep(3, HANDSHAKE_GRACE_MS * 5, 10_000)).toBe('wait');
    expect(drainStep(3, 10_000, 10_000)).toBe('late');
    expect(drainStep(0, 10_000, 10_000)).toBe('done');
  });

  it('with nobody accepting (timeout 0) looks once', () => {
    expect(drainStep(0, 0, 0)).toBe('done');
    expect(drainStep(2, 0, 0)).toBe('late');
  });
});
