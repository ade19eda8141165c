// When to restart a crashed slot: pure functions of the slot's crash history, the clock and its workers.

export interface RespawnPolicy {
  /** Delay before the second restart in a row of short-lived workers; doubles after each. */
  baseDelay: number;
  /** Upper bound of the delay. */
  maxDelay: number;
  /** Random spread, as a fraction of the delay (0.2 = ±20%). */
  jitter: number;
  /** A worker that stayed up this long resets the backoff. */
  minUptime: number;
  /** More crashes than this within `restartWindow` mark the slot failed. */
  maxRestarts: number;
  restartWindow: number;
}

export interface CrashHistory {
  /** Times of recent crashes, oldest first, all within the window. */
  readonly crashes: readonly number[];
  /** Crashes in a row of workers that did not reach `minUptime`. */
  readonly streak: number;
}

export type RespawnDecision =
  | { readonly action: 'respawn'; readonly delay: number; readonly history: CrashHistory }
  | { readonly action: 'fail'; readonly history: CrashHistory };

export const EMPTY_HISTORY: CrashHistory = Object.freeze({
  crashes: Object.freeze([]) as readonly number[], streak: 0,
});

/**
 * The first crash after a stable run restarts at once; each further crash of a short-lived worker
 * waits `baseDelay · 2^(streak-2)` (capped, ±jitter). Too many crashes in the window: fail.
 * `random` is injected so tests are exact.
 */
export function decideRespawn(
  history: CrashHistory, uptime: number, now: number, policy: RespawnPolicy, random: () => number = Math.random,
): RespawnDecision {
  const crashes = [...history.crashes.filter((at) => at > now - policy.restartWindow), now];
  const streak = uptime >= policy.minUptime ? 1 : history.streak + 1;
  const next: CrashHistory = { crashes, streak };
  if (crashes.length > policy.maxRestarts) return { action: 'fail', history: next };
  if (streak === 1) return { action: 'respawn', delay: 0, history: next };
  const raw = Math.min(policy.maxDelay, policy.baseDelay * 2 ** (streak - 2));
  const spread = raw * policy.jitter * (2 * random() - 1);
  return { action: 'respawn', delay: Math.max(0, Math.round(raw + spread)), history: next };
}

/** What the supervisor knows of another worker of a slot whose worker just crashed. */
export interface SuccessorFacts {
  /** Forked by a planned replacement (rolling restart, recycle, closed server) for this slot. */
  readonly isSuccessor: boolean;
  /** Asked to go, or given up on (timed out, channel closed). */
  readonly isRetiring: boolean;
  /** It exited or did not start (exited, fork failed, `readyTimeout`). */
  readonly hasFailed: boolean;
}

/**
 * Whether that worker takes the slot over, so the crash needs no respawn: a planned successor still
 * on its way (starting, or ready and adopting the state). A respawn beside it would give the slot a
 * second new process, one of which the replacement would have to end again.
 */
export function takesSlotOver(facts: SuccessorFacts): boolean {
  return facts.isSuccessor && !facts.isRetiring && !facts.hasFailed;
}
