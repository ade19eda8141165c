import { ErrorCode, StickyError } from '../errors.js';

// The one transition table of the runtime's lifecycle. An illegal transition throws.

/**
 * The primary's lifecycle: `starting` until its port listens; `running`; `draining` during the
 * `shutdownDelay` window of a shutdown that waits for connections (everything still serves while
 * readiness already fails, so a load balancer takes the instance out before the port closes; only
 * from `running`: before it listens there is nothing to keep serving);
 * `closing` from when the port closes until every worker exited; `closed`.
 */
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

/** Past `running`: the cluster is on its way out (also during `shutdownDelay`, while the workers still serve). */
export function isClosing(state: LifecycleState): boolean {
  return state === 'draining' || state === 'closing' || state === 'closed';
}

/** What a method that needs a running (or starting) cluster throws once it is closing. */
export function closingError(state: LifecycleState, method: string): StickyError {
  const where = state === 'closed' ? 'shut down' : 'shutting down';
  return new StickyError(ErrorCode.InvalidState, `\`${method}()\` cannot run: the cluster is ${where}.`, {
    hint: 'Listen, reload and scale only before `close()`; create a new primary to serve again.',
  });
}
