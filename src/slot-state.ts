// The one vocabulary of a slot's state: `stats().slots[i].state`, the CLI's STATE column, the
// `state` label of `sticky_runtime_slot_state` and the slot owner's own view all come from
// `slotStateOf`. Pure, and safe on both sides.

/** Every slot state, in the order `/metrics` lists them. */
export const SLOT_STATES = ['ready', 'starting', 'respawning', 'failed', 'withdrawn', 'vacant'] as const;

/**
 * What a slot does with its new clients now, one meaning each:
 *
 * - `'ready'`: they reach the slot's worker (the route table sends them to it).
 * - `'starting'`: the slot's worker is forked and not ready yet (first start, respawn, a slot being
 *   added by scaling up); they wait in the slot's queue for it.
 * - `'withdrawn'`: the slot's worker is ready but takes no new clients: it is handing its state to its
 *   successor, closed its server, stopped answering (`workerTimeout`) or is being retired (shutdown);
 *   they wait for its successor.
 * - `'respawning'`: the slot has no worker; one is forked after the respawn delay. They wait.
 * - `'vacant'`: the slot has no worker and none is scheduled (between a worker's exit and the decision
 *   to respawn it, or during shutdown). They wait.
 * - `'failed'`: the slot crashed too often (`restartWindow`): they go to the next `'ready'` slot
 *   (affinity lost). It is tried again after `failedSlotRetry` or at the next reload, and stays
 *   `'failed'` until a worker of its own is ready and routed.
 */
export type SlotStateName = (typeof SLOT_STATES)[number];

/** What `slotStateOf` decides from: facts kept by the slot owner and the route table. */
export interface SlotFacts {
  /** Marked failed after too many crashes, and not healed since. */
  readonly isFailed: boolean;
  /** The slot has a current worker (forked, not exited, not replaced). */
  readonly hasWorker: boolean;
  /** That worker reported ready. */
  readonly isWorkerReady: boolean;
  /** The route table sends the slot's new clients to that worker. */
  readonly isRouted: boolean;
  /** Added by scaling up and not in the route table yet. */
  readonly isProvisional: boolean;
  /** A respawn (or a failed slot's retry) is scheduled. */
  readonly isRespawnPending: boolean;
}

/** The slot's state name (see `SlotStateName`). */
export function slotStateOf(facts: SlotFacts): SlotStateName {
  if (facts.isFailed) return 'failed';
  if (facts.hasWorker) {
    if (facts.isRouted) return 'ready';
    // A slot scaling up adds is routed once the table grows to include it: until then it is starting.
    return facts.isWorkerReady && !facts.isProvisional ? 'withdrawn' : 'starting';
  }
  return facts.isRespawnPending ? 'respawning' : 'vacant';
}
