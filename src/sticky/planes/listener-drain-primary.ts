import { setTimeout as sleep } from 'node:timers/promises';
import type { ReusePortSockets } from './reuseport-native.js';

// Closing a listening socket resets every connection still in its accept queue: the kernel completed
// their handshakes, the clients sent their requests, and nobody will read them. So a listening socket
// that goes away (shutdown, a removed slot) is drained first: it refuses new handshakes (a client's SYN
// is dropped; the client retries it and meets the closed port: ECONNREFUSED, safe to retry), while
// whoever accepts on it (the slot's worker, or the primary's own server) keeps accepting until the
// queue is empty. A handshake already under way completes into the queue within one round trip, so
// the queue must also stay empty for HANDSHAKE_GRACE_MS. Without the native part nothing can refuse
// handshakes nor read the queue: the caller waits FALLBACK_LINGER_MS, which narrows the window only.

/** Ms after refusing new handshakes during which one under way may still complete into the queue. */
export const HANDSHAKE_GRACE_MS = 100;
/** Ms between two looks at the queue's length (the kernel has no event for an empty queue). */
const POLL_MS = 5;
/** Ms to keep accepting where handshakes cannot be refused: what arrives meanwhile is accepted. */
export const FALLBACK_LINGER_MS = 250;

export type DrainStep = 'done' | 'wait' | 'late';

/**
 * One look at a draining listener: done once its queue is empty and the grace has passed, late once
 * `timeout` ms passed with connections still queued (they will be reset), else wait.
 */
export function drainStep(queued: number, elapsed: number, timeout: number): DrainStep {
  if (queued === 0 && elapsed >= Math.min(HANDSHAKE_GRACE_MS, timeout)) return 'done';
  return elapsed >= timeout ? 'late' : 'wait';
}

/** How a drain ended: `left` connections were still queued at the deadline; `refused` false without the filter. */
export interface DrainResult {
  refused: boolean;
  left: number;
}

/**
 * Refuses new handshakes on the listening socket `fd` and resolves once its accept queue is empty
 * (someone else accepts meanwhile), or after `timeout` ms. Never rejects; the caller closes the socket.
 */
export async function drainListener(sockets: ReusePortSockets | undefined, fd: number | undefined,
  timeout: number): Promise<DrainResult> {
  try {
    if (sockets === undefined || fd === undefined) throw new Error('no native part');
    sockets.refuseHandshakes(fd);
  } catch {
    // Without the filter (no native part, or a kernel that refuses it): only a linger.
    await sleep(Math.max(0, Math.min(FALLBACK_LINGER_MS, timeout)));
    return { refused: false, left: 0 };
  }
  const start = performance.now();
  for (;;) {
    let queued: number;
    try {
      queued = sockets.acceptQueueLength(fd);
    } catch {
      return { refused: true, left: 0 };
    }
    const step = drainStep(queued, performance.now() - start, timeout);
    if (step !== 'wait') return { refused: true, left: step === 'late' ? queued : 0 };
    await sleep(POLL_MS);
  }
}
