// Accept back-off policy, pure: how long the primary stays away from its listening socket after it
// found itself out of file descriptors, from the previous pause and the time since it last resumed.

export const ACCEPT_BACKOFF = {
  /** Ms between two checks for a free descriptor while accepting. */
  probeInterval: 100,
  /** Ms of the first pause of an episode. */
  firstPause: 50,
  /** Longest pause, ms: once descriptors are free, clients wait at most this long for the port to open again. */
  maxPause: 2_000,
  /** A pause that starts this many ms after the last resume begins a new episode (first pause again). */
  resetAfter: 10_000,
} as const;

/**
 * Ms to stay paused: the first pause of an episode, else twice the previous one, at most `maxPause`.
 * `sinceResume` is 0 for a check that found the descriptors still exhausted.
 */
export function nextAcceptPause(previous: number | undefined, sinceResume: number): number {
  if (previous === undefined || sinceResume >= ACCEPT_BACKOFF.resetAfter) return ACCEPT_BACKOFF.firstPause;
  return Math.min(ACCEPT_BACKOFF.maxPause, previous * 2);
}
