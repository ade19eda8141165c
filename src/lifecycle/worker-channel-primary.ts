import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../logger.js';
import { decodeMessage, type RuntimeMessage } from '../ipc/index.js';
import { LogLimit } from '../internal/log-limit.js';
import { foreignListenerCount, runtimeListener } from '../internal/runtime-listeners.js';

// What the primary takes from a worker's IPC channel. The runtime's messages are narrowed by the
// codec; what it drops (another protocol version, a payload out of bounds) is counted and logged at
// most once per 10 s per worker, since a worker can send it in a loop. A handle (socket, server) that
// comes with a message nobody takes is closed at once (the runtime takes one only to forward a moved
// connection from a retiring worker to its successor): one left alone holds a descriptor for good.

/** Ms between two warnings of one kind about one worker. */
export const WARN_INTERVAL_MS = 10_000;

/** What workers sent the primary on their channels that it dropped or closed, since it started. */
export interface ChannelStats {
  /** Runtime messages of another protocol version (a worker of another release of this package), dropped. */
  versionMismatches: number;
  /** Runtime messages of an unknown type or with a payload out of bounds (e.g. a negative count), dropped. */
  invalidMessages: number;
  /** Handles a worker sent with a message that neither the runtime nor the application takes, closed. */
  closedHandles: number;
}

type Problem = 'version' | 'invalid' | 'handle';
const warnLimit = (): LogLimit => new LogLimit(WARN_INTERVAL_MS);

interface Watched {
  /** Listeners on the worker and on its process that were there before the application could add any (Node's). */
  readonly ownWorkerListeners: number;
  readonly ownProcessListeners: number;
  readonly warnings: Record<Problem, LogLimit>;
}

/**
 * Whether a handle that came with a message is left to the application: only with a message that
 * is not the runtime's, and only when the application listens to that worker's messages itself.
 */
export function isHandleForApplication(isRuntimeMessage: boolean, applicationListeners: number): boolean {
  return !isRuntimeMessage && applicationListeners > 0;
}

export class WorkerChannels {
  readonly stats: ChannelStats = { versionMismatches: 0, invalidMessages: 0, closedHandles: 0 };
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Listens to a worker's messages; call it right after `cluster.fork()`. `receive` gets every
   * message: the runtime's, narrowed, or undefined for anything else, and the handle that came with it;
   * it returns true when it took the handle (else a handle is closed, or left to the application).
   */
  watch(worker: Worker, receive: (message: RuntimeMessage | undefined, handle: unknown) => boolean | void): void {
    const watched: Watched = {
      ownWorkerListeners: foreignListenerCount(worker, 'message'),
      ownProcessListeners: foreignListenerCount(worker.process, 'message'),
      warnings: { version: warnLimit(), invalid: warnLimit(), handle: warnLimit() },
    };
    worker.on('message', runtimeListener((value: unknown, handle: unknown) => {
      // Hot path (pongs, readiness, reports): one decode; only a handle or a dropped message costs more.
      const decoded = decodeMessage(value);
      const hasHandle = handle !== undefined && handle !== null;
      if (decoded.kind === 'message') {
        if (receive(decoded.message, handle) !== true && hasHandle) this.#settleHandle(worker, watched, true, handle);
        return;
      }
      if (hasHandle) this.#settleHandle(worker, watched, decoded.kind !== 'foreign', handle);
      if (decoded.kind === 'version') {
        this.stats.versionMismatches++;
        this.#warn(worker, watched, 'version', { version: decoded.version }, 'protocol version mismatch');
      } else if (decoded.kind === 'malformed') {
        this.stats.invalidMessages++;
        this.#warn(worker, watched, 'invalid', {}, 'invalid runtime message from a worker: dropped');
      }
      receive(undefined, undefined);
    }));
  }

  #settleHandle(worker: Worker, watched: Watched, isRuntimeMessage: boolean, handle: unknown): void {
    // The application's listeners on the worker, its process, or `cluster` (which sees every worker's)
    // already ran, or run next: it has the handle. Only counted for a message with a handle.
    const applicationListeners = foreignListenerCount(worker, 'message') - watched.ownWorkerListeners +
      foreignListenerCount(worker.process, 'message') - watched.ownProcessListeners +
      foreignListenerCount(cluster, 'message');
    if (isHandleForApplication(isRuntimeMessage, applicationListeners)) return;
    this.stats.closedHandles++;
    closeHandle(handle, this.#log);
    this.#warn(worker, watched, 'handle', {}, 'a worker sent a handle nobody takes: closed');
  }

  #warn(worker: Worker, watched: Watched, problem: Problem, fields: Record<string, unknown>, message: string): void {
    const suppressed = watched.warnings[problem].take(performance.now());
    if (suppressed === undefined) return;
    this.#log.warn({ workerId: worker.id, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, message);
  }
}

/** Closes what Node made of a received handle: a net.Socket, a net.Server, a dgram socket, a bare handle. */
function closeHandle(handle: unknown, log: Logger): void {
  const closable = handle as { destroy?: unknown; close?: unknown };
  try {
    if (typeof closable.destroy === 'function') (closable.destroy as () => void).call(handle);
    else if (typeof closable.close === 'function') (closable.close as () => void).call(handle);
  } catch (error) {
    // Already closed, or closed by its own error meanwhile: nothing left to free.
    log.debug({ err: error }, 'closing a handle from a worker failed');
  }
}
