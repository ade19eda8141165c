import type { Tracked } from './tracked-worker-primary.js';

// The liveness check behind `workerTimeout`: every ready worker gets a ping over IPC at a modest
// interval and answers it from its event loop. A worker that leaves a ping unanswered for the timeout
// (its loop is blocked, or it stopped reading its channel) is reported to the supervisor, which
// replaces it. Silence counts from the first unanswered ping, not from the worker's last message, so
// after the primary's own loop stalled a worker has the whole timeout to answer the ping sent when the
// primary woke up. Per tick: one shared message per worker, no allocation per connection or per handoff.

/** Heartbeats per `workerTimeout`: a worker misses several before it is given up on. */
const PINGS_PER_TIMEOUT = 5;
const MIN_INTERVAL_MS = 20;
const MAX_INTERVAL_MS = 5_000;

export interface WatchdogHost {
  /** The workers to watch now (ready, routed, not retiring). */
  watched(): Iterable<Tracked>;
  ping(tracked: Tracked): void;
  timedOut(tracked: Tracked, silentFor: number): void;
}

/** The heartbeat interval for a timeout: a fifth of it, within 20 ms … 5 s. */
export function heartbeatInterval(workerTimeout: number): number {
  return Math.max(MIN_INTERVAL_MS, Math.min(MAX_INTERVAL_MS, Math.floor(workerTimeout / PINGS_PER_TIMEOUT)));
}

/**
 * Whether a worker is given up on at a tick at `now`: it has left a ping unanswered since
 * `unansweredSince` for `workerTimeout` or longer, and the tick is on time. A late tick (the primary
 * itself was stalled, answers may wait unread in the channels) judges nobody.
 */
export function isTimedOut(
  now: number, unansweredSince: number | undefined, workerTimeout: number, isLate: boolean,
): boolean {
  return !isLate && unansweredSince !== undefined && now - unansweredSince >= workerTimeout;
}

/**
 * Where a worker's silence counts from once it is pinged at `now` (the tick before was at `previousTick`):
 * from its first unanswered ping. After a stall (`isLate`), a worker whose only unanswered ping is the one
 * sent just before it starts anew: that ping may never have left the primary (Node holds what is sent
 * after a handle until the worker acknowledges the handle, and the acknowledgement waited unread).
 * A worker that missed an earlier ping keeps its start, and is given up on at the first on-time tick.
 */
export function silenceStart(
  now: number, unansweredSince: number | undefined, previousTick: number, isLate: boolean,
): number {
  if (unansweredSince === undefined || (isLate && unansweredSince >= previousTick)) return now;
  return unansweredSince;
}

export class Watchdog {
  readonly #timeout: number;
  readonly #host: WatchdogHost;
  #timer: NodeJS.Timeout | undefined;
  #interval = 0;
  #lastTick = 0;

  constructor(workerTimeout: number, host: WatchdogHost) {
    this.#timeout = workerTimeout;
    this.#host = host;
  }

  start(): void {
    if (this.#timeout === 0 || this.#timer !== undefined) return;
    this.#interval = heartbeatInterval(this.#timeout);
    this.#lastTick = performance.now();
    this.#timer = setInterval(this.#tick, this.#interval);
    // The watchdog never keeps a primary alive on its own.
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick = (): void => {
    const now = performance.now();
    const previousTick = this.#lastTick;
    // A tick this late means the primary itself was stalled.
    const isLate = now - previousTick > 2 * this.#interval;
    this.#lastTick = now;
    for (const tracked of this.#host.watched()) {
      if (isTimedOut(now, tracked.unansweredSince, this.#timeout, isLate)) {
        // The event reports the time since the worker's last message (longer than the unanswered ping's
        // age), rounded up: a silence longer than `workerTimeout`, as it was (2000.4 ms must not read 2000).
        this.#host.timedOut(tracked, Math.ceil(now - tracked.lastSeen));
      } else {
        tracked.markPinged(silenceStart(now, tracked.unansweredSince, previousTick, isLate));
        this.#host.ping(tracked);
      }
    }
  };
}
