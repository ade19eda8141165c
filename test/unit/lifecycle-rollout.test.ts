import { describe, expect, it } from 'vitest';
import { nextScaleTarget, planRollout } from '../../src/lifecycle/rollout.js';

describe('planRollout', () => {
  it('replaces slots in order, `concurrency` at a time, the last batch holding the rest', () => {
    expect(planRollout(5, 2)).toEqual([[0, 1], [2, 3], [4]]);
    expect(planRollout(3, 1)).toEqual([[0], [1], [2]]);
    expect(planRollout(3, 8)).toEqual([[0, 1, 2]]);
    expect(planRollout(0, 2)).toEqual([]);
  });
});

describe('nextScaleTarget', () => {
  it('steps from where queued steps lead, within 1 … 1024 slots', () => {
    expect(nextScaleTarget(4, 1)).toBe(5);
    expect(nextScaleTarget(4, -1)).toBe(3);
    expect(nextScaleTarget(1, -1)).toBe(1);
    expect(nextScaleTarget(1024, 1)).toBe(1024);
    expect(nextScaleTarget(1023, 1)).toBe(1024);
  });
});
