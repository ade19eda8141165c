import { describe, expect, it } from 'vitest';
import { canTransition, transition, type LifecycleState } from '../../src/lifecycle/state.js';
import { isStickyError } from '../../src/errors.js';

const STATES: readonly LifecycleState[] = ['starting', 'running', 'draining', 'closing', 'closed'];
const ALLOWED: ReadonlySet<string> = new Set([
  'starting>running', 'starting>closing', 'running>draining', 'running>closing', 'draining>closing', 'closing>closed',
]);
const pairs = STATES.flatMap((from) => STATES.map((to) => [from, to] as const));

describe('lifecycle transitions', () => {
  it.each(pairs.filter(([from, to]) => ALLOWED.has(`${from}>${to}`)))('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(transition(from, to)).toBe(to);
  });

  it.each(pairs.filter(([from, to]) => !ALLOWED.has(`${from}>${to}`)))('forbids %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    let thrown: unknown;
    try {
      transition(from, to);
    } catch (error) {
      thrown = error;
    }
    expect(isStickyError(thrown)).toBe(true);
    expect(thrown).toMatchObject({ code: 'STICKY_ERR_INVALID_STATE', message: `Cannot go from \`${from}\` to \`${to}\`.` });
  });

  it('has a path from every state to closed', () => {
    for (const from of STATES) {
      const seen = new Set<LifecycleState>([from]);
      const queue = [from];
      while (queue.length > 0) {
        const state = queue.shift()!;
        for (const to of STATES) if (canTransition(state, to) && !seen.has(to)) { seen.add(to); queue.push(to); }
      }
      expect(seen.has('closed')).toBe(true);
    }
  });
});
