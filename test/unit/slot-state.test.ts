import { describe, expect, it } from 'vitest';
import { SLOT_STATES, slotStateOf, type SlotFacts, type SlotStateName } from '../../src/slot-state.js';

// The one function that names a slot's state, over every combination of its facts.

const NONE: SlotFacts = {
  isFailed: false, hasWorker: false, isWorkerReady: false, isRouted: false, isProvisional: false,
  isRespawnPending: false,
};
const READY_WORKER: SlotFacts = { ...NONE, hasWorker: true, isWorkerReady: true };

describe('slotStateOf', () => {
  it.each<[string, Partial<SlotFacts>, SlotStateName]>([
    ['a routed ready worker', { ...READY_WORKER, isRouted: true }, 'ready'],
    ['a worker not ready yet', { hasWorker: true }, 'starting'],
    ['a ready worker of a slot not in the route table yet (scaling up)', { ...READY_WORKER, isProvisional: true },
      'starting'],
    ['a ready worker no longer routed (handover, closed server, timeout, retiring)', READY_WORKER, 'withdrawn'],
    ['no worker, a respawn scheduled', { isRespawnPending: true }, 'respawning'],
    ['no worker, nothing scheduled', {}, 'vacant'],
    ['failed, its retry scheduled', { isFailed: true, isRespawnPending: true }, 'failed'],
    ['failed, its retry starting', { isFailed: true, hasWorker: true }, 'failed'],
    ['failed, its retry ready but not routed (shutdown)', { ...READY_WORKER, isFailed: true }, 'failed'],
  ])('%s: %s', (_, facts, expected) => {
    expect(slotStateOf({ ...NONE, ...facts })).toBe(expected);
  });

  it('names only states of the one list, and each of them for some facts', () => {
    const seen = new Set<SlotStateName>();
    const flags = Object.keys(NONE) as (keyof SlotFacts)[];
    for (let bits = 0; bits < 1 << flags.length; bits++) {
      const facts = Object.fromEntries(flags.map((flag, index) => [flag, (bits & (1 << index)) !== 0]));
      const state = slotStateOf(facts as unknown as SlotFacts);
      expect(SLOT_STATES).toContain(state);
      seen.add(state);
    }
    expect([...seen].sort()).toEqual([...SLOT_STATES].sort());
  });

  it('lists the states /metrics exported before first, in their order', () => {
    expect(SLOT_STATES.slice(0, 4)).toEqual(['ready', 'starting', 'respawning', 'failed']);
  });
});
