// A worker whose application closes its server itself (`server.close()`) leaves its slot as a planned
// replacement does. The decisions of both sides, pure so they can be unit tested.

/** Where the worker's own shutdown is: serving, draining (shutdown or retirement), running its exit hooks. */
export type WorkerShutdownState = 'running' | 'draining' | 'closing';

/** The application's close: none yet, waiting for the primary to stop sending (`sticky:unrouted`), done. */
export type AppCloseState = 'none' | 'pending' | 'done';

/**
 * What the worker does with the application's `server.close(cb)`:
 * - `report`: tell the primary, stop accepting, close once the primary stopped sending;
 * - `queue`: a repeated call while that waits: it runs after the first (and gets Node's own answer);
 * - `passThrough`: Node's own close at once. The runtime's drain (shutdown, retirement) closes the server
 *   itself; a close the application makes from then on (in `onDrain` or an exit hook), a close after
 *   the first completed or without a primary to tell is not a slot change.
 */
export function decideAppClose(
  state: WorkerShutdownState, appClose: AppCloseState, isConnected: boolean,
): 'report' | 'queue' | 'passThrough' {
  if (appClose === 'pending') return 'queue';
  return state === 'running' && appClose === 'none' && isConnected ? 'report' : 'passThrough';
}

export interface ServerCloseFacts {
  /** Shutdown began (also during `shutdownDelay`, while the workers still serve). */
  isShuttingDown: boolean;
  /** The runtime already asked the worker to go (reload, recycle, scale-down, shutdown, given up on). */
  isRetiring: boolean;
  isReady: boolean;
  /** Its server close was already handled. */
  hasClosedServer: boolean;
}

/**
 * What the primary does with a worker's `sticky:serverClose`:
 * - `ignore`: its retirement is under way; the close message it gets after its last socket ends it;
 * - `withdraw`: shutdown began: nothing is routed to it any more and no successor is forked (the
 *   shutdown retires it);
 * - `giveUp`: it closed its server before it was ready: a failed start, given up on like a worker that
 *   closed its channel (its slot, if it is the slot's worker, goes to the respawn policy);
 * - `replace`: nothing is routed to it any more; its slot gets a successor through the path of a
 *   planned replacement, and the old worker is retired once the successor is installed.
 */
export function decideServerClose(facts: ServerCloseFacts): 'ignore' | 'withdraw' | 'giveUp' | 'replace' {
  if (facts.isRetiring || facts.hasClosedServer) return 'ignore';
  if (facts.isShuttingDown) return 'withdraw';
  return facts.isReady ? 'replace' : 'giveUp';
}

/**
 * Whether the slot of the worker `closedWorker` (its id) (whose server closed) still needs its successor when
 * that replacement's turn comes: while the worker is still the slot's, or when it already exited
 * (its exit was expected, so nothing else refills the slot: it is vacant). A slot that got another
 * worker meanwhile (a reload replaced it, the slot was removed and added again) needs none.
 */
export function needsSuccessor(isVacant: boolean, currentWorkerId: number | undefined, closedWorker: number): boolean {
  return currentWorkerId === undefined ? isVacant : currentWorkerId === closedWorker;
}
