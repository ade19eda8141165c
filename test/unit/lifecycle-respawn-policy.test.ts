import { describe, expect, it } from 'vitest';
import {
  EMPTY_HISTORY, decideRespawn, takesSlotOver, type CrashHistory, type RespawnPolicy,
} from '../../src/lifecycle/respawn-policy.js';

const policy: RespawnPolicy = {
  baseDelay: 100, maxDelay: 1_000, jitter: 0.2, minUptime: 5_000, maxRestarts: 100, restartWindow: 60_000,
};
const noJitter = (): number => 0.5;
const SHORT = 10;
const STABLE = 10_000;

/** Crashes one slot `count` times, 100 ms apart, each worker short-lived; returns the delays. */
function shortLivedDelays(count: number, p: RespawnPolicy = policy): number[] {
  let history: CrashHistory = EMPTY_HISTORY;
  const delays: number[] = [];
  for (let i = 0; i < count; i++) {
    const decision = decideRespawn(history, SHORT, 1_000 + i * 100, p, noJitter);
    expect(decision.action).toBe('respawn');
    if (decision.action !== 'respawn') break;
    delays.push(decision.delay);
    history = decision.history;
  }
  return delays;
}

describe('decideRespawn', () => {
  it('restarts at once after a worker that ran long enough', () => {
    const decision = decideRespawn(EMPTY_HISTORY, STABLE, 1_000, policy, noJitter);
    expect(decision).toEqual({ action: 'respawn', delay: 0, history: { crashes: [1_000], streak: 1 } });
  });

  it('backs off 0, base, 2·base, 4·base … for short-lived workers, capped at maxDelay', () => {
    expect(shortLivedDelays(8)).toEqual([0, 100, 200, 400, 800, 1_000, 1_000, 1_000]);
  });

  it('caps at maxDelay even when it is not a power-of-two multiple', () => {
    expect(shortLivedDelays(6, { ...policy, maxDelay: 250 })).toEqual([0, 100, 200, 250, 250, 250]);
  });

  it('never overflows on a very long streak', () => {
    const decision = decideRespawn({ crashes: [], streak: 5_000 }, SHORT, 0, policy, noJitter);
    expect(decision).toMatchObject({ action: 'respawn', delay: 1_000 });
  });

  it('spreads the delay by ±jitter', () => {
    const history: CrashHistory = { crashes: [], streak: 1 };
    expect(decideRespawn(history, SHORT, 0, policy, () => 0)).toMatchObject({ delay: 80 });
    expect(decideRespawn(history, SHORT, 0, policy, () => 1)).toMatchObject({ delay: 120 });
    expect(decideRespawn(history, SHORT, 0, policy, () => 0.75)).toMatchObject({ delay: 110 });
    const capped: CrashHistory = { crashes: [], streak: 20 };
    expect(decideRespawn(capped, SHORT, 0, policy, () => 0)).toMatchObject({ delay: 800 });
    expect(decideRespawn(capped, SHORT, 0, policy, () => 1)).toMatchObject({ delay: 1_200 });
  });

  it('keeps the delay within ±jitter for any random value', () => {
    const history: CrashHistory = { crashes: [], streak: 2 };
    for (let i = 0; i <= 100; i++) {
      const decision = decideRespawn(history, SHORT, 0, policy, () => i / 100);
      expect(decision.action).toBe('respawn');
      if (decision.action !== 'respawn') return;
      expect(decision.delay).toBeGreaterThanOrEqual(160);
      expect(decision.delay).toBeLessThanOrEqual(240);
      expect(Number.isInteger(decision.delay)).toBe(true);
    }
  });

  it('applies no jitter to the immediate first restart', () => {
    expect(decideRespawn(EMPTY_HISTORY, SHORT, 0, policy, () => 1)).toMatchObject({ delay: 0 });
    expect(decideRespawn(EMPTY_HISTORY, SHORT, 0, policy, () => 0)).toMatchObject({ delay: 0 });
  });

  it('resets the streak when a worker reached minUptime', () => {
    const history: CrashHistory = { crashes: [1, 2, 3, 4], streak: 4 };
    expect(decideRespawn(history, 5_000, 100, policy, noJitter)).toMatchObject({ action: 'respawn', delay: 0, history: { streak: 1 } });
    expect(decideRespawn(history, 4_999, 100, policy, noJitter)).toMatchObject({ action: 'respawn', delay: 800, history: { streak: 5 } });
  });

  it('backs off again from the start after a reset', () => {
    let history: CrashHistory = { crashes: [], streak: 6 };
    const reset = decideRespawn(history, STABLE, 0, policy, noJitter);
    history = reset.history;
    expect(decideRespawn(history, SHORT, 10, policy, noJitter)).toMatchObject({ delay: 100, history: { streak: 2 } });
  });

  it('forgets crashes older than restartWindow', () => {
    const history: CrashHistory = { crashes: [0, 1_000, 30_000], streak: 1 };
    const decision = decideRespawn(history, STABLE, 61_000, policy, noJitter);
    expect(decision.history.crashes).toEqual([30_000, 61_000]);
    expect(decideRespawn(history, STABLE, 59_999, policy, noJitter).history.crashes).toEqual([0, 1_000, 30_000, 59_999]);
    expect(decideRespawn(history, STABLE, 60_000, policy, noJitter).history.crashes).toEqual([1_000, 30_000, 60_000]);
  });

  it('fails the slot on more than maxRestarts crashes within the window', () => {
    const strict: RespawnPolicy = { ...policy, maxRestarts: 3 };
    let history: CrashHistory = EMPTY_HISTORY;
    const actions: string[] = [];
    for (let i = 0; i < 4; i++) {
      const decision = decideRespawn(history, STABLE, i * 1_000, strict, noJitter);
      actions.push(decision.action);
      history = decision.history;
    }
    expect(actions).toEqual(['respawn', 'respawn', 'respawn', 'fail']);
    expect(history.crashes).toEqual([0, 1_000, 2_000, 3_000]);
  });

  it('does not fail when the earlier crashes left the window', () => {
    const strict: RespawnPolicy = { ...policy, maxRestarts: 3 };
    const history: CrashHistory = { crashes: [0, 1_000, 2_000], streak: 1 };
    expect(decideRespawn(history, STABLE, 3_000, strict, noJitter).action).toBe('fail');
    expect(decideRespawn(history, STABLE, 60_500, strict, noJitter)).toMatchObject({
      action: 'respawn', history: { crashes: [1_000, 2_000, 60_500] },
    });
  });

  it('fails at the first crash when maxRestarts is 0', () => {
    expect(decideRespawn(EMPTY_HISTORY, STABLE, 0, { ...policy, maxRestarts: 0 }, noJitter).action).toBe('fail');
  });

  it('does not mutate the history it is given', () => {
    const history: CrashHistory = Object.freeze({ crashes: Object.freeze([1, 2]) as readonly number[], streak: 2 });
    decideRespawn(history, SHORT, 3, policy, noJitter);
    expect(history).toEqual({ crashes: [1, 2], streak: 2 });
    expect(EMPTY_HISTORY).toEqual({ crashes: [], streak: 0 });
  });
});

describe('takesSlotOver', () => {
  const starting = { isSuccessor: true, isRetiring: false, hasFailed: false };

  it('a planned successor on its way takes the crashed slot over: no respawn beside it', () => {
    expect(takesSlotOver(starting)).toBe(true);
  });

  it('a worker that is no planned successor, is retiring, or did not start leaves the slot to the respawn policy', () => {
    expect(takesSlotOver({ ...starting, isSuccessor: false })).toBe(false);
    expect(takesSlotOver({ ...starting, isRetiring: true })).toBe(false);
    expect(takesSlotOver({ ...starting, hasFailed: true })).toBe(false);
  });
});
