import { ErrorCode, StickyError } from '../errors.js';

// The one transition table of the runtime's lifecycle. An illegal transition throws.

export type LifecycleState = 'starting' | 'running' | 'draining' | 'closing' | 'closed';

const TRANSITIONS: Readonly<Record<LifecycleState, readonly LifecycleState[]>> = {
  starting: ['running', 'closing'],
  running: ['draining', 'closing'],
  draining: ['closing'],
  closing: ['closed'],
  closed: [],
};

export function canTransition(from: LifecycleState, to: LifecycleState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function transition(from: LifecycleState, to: LifecycleState): LifecycleState {
  if (!canTransition(from, to)) {
    throw new StickyError(ErrorCode.InvalidState, `Cannot go from \`${from}\` to \`${to}\`.`);
  }
  return to;
}
