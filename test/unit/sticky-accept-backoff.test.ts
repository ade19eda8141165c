import { describe, expect, it } from 'vitest';
import { ACCEPT_BACKOFF, nextAcceptPause } from '../../src/sticky/planes/accept-backoff.js';

describe('nextAcceptPause', () => {
  it('starts an episode with the first pause and doubles while the shortage lasts, up to the cap', () => {
    const delays: number[] = [];
    let delay: number | undefined;
    for (let i = 0; i < 8; i++) delays.push(delay = nextAcceptPause(delay, 0));
    expect(delays).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000]);
  });

  it('keeps growing when the shortage comes back soon after a resume, and starts over after a quiet while', () => {
    expect(nextAcceptPause(400, ACCEPT_BACKOFF.resetAfter - 1)).toBe(800);
    expect(nextAcceptPause(400, ACCEPT_BACKOFF.resetAfter)).toBe(ACCEPT_BACKOFF.firstPause);
  });
});
